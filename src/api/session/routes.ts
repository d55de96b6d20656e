import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorResponses } from '../errors';
import { principalOf, type Principal, type RouteAuth } from '../plugins/auth';
import { consoleActionNames, consoleActions, routeKey, ruleAdmits, type ConsoleAction } from './actions';
import { sessionSchema, type Session } from './schemas';

/**
 * `GET /v1/session`: who the token is and which console actions it may take. Not encapsulated, and
 * registered before the other routes, so its `onRoute` hook sees every route's `config.auth` as the
 * auth plugin will enforce it; the app refuses to start if an action names a route it lacks.
 */
export const sessionRoutes = fp(
  async function sessionRoutes(app: FastifyInstance) {
    const rules = new Map<string, RouteAuth | undefined>();
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) rules.set(routeKey(method, route.url), route.config?.auth);
    });
    app.addHook('onReady', async () => {
      const missing = consoleActionNames.filter((action) => !rules.has(consoleActions[action].route));
      if (missing.length > 0) {
        throw new Error(
          `console actions name routes the app does not register: ${missing.map((a) => consoleActions[a].route).join(', ')}`,
        );
      }
    });

    const sessionOf = (principal: Principal): Session => {
      const allTenants = principal.tenants.includes('*');
      const can = Object.fromEntries(
        consoleActionNames.map((action) => {
          const { route, alsoNeeds } = consoleActions[action] as { route: string; alsoNeeds?: Principal['role'] };
          const admitted =
            ruleAdmits(principal, rules.get(route)) && (alsoNeeds === undefined || ruleAdmits(principal, { role: alsoNeeds }));
          return [action, admitted];
        }),
      ) as Record<ConsoleAction, boolean>;
      return { name: principal.tokenName, role: principal.role, tenants: allTenants ? null : principal.tenants, allTenants, can };
    };

    app.withTypeProvider<ZodTypeProvider>().get(
      '/v1/session',
      {
        config: { auth: { role: 'service' } },
        schema: {
          summary: 'The calling token',
          description:
            'Its name, role and tenants, and `can`: for each privileged action the console offers, whether this token may ' +
            'take it, computed from the access rules of the routes that perform them.',
          tags: ['session'],
          security: [{ bearer: [] }],
          response: { 200: sessionSchema, ...errorResponses(401, 403, 429, 500) },
        },
      },
      async (request) => sessionOf(principalOf(request)),
    );
  },
  { name: 'palyra-session' },
);
