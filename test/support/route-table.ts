import type * as fastifyModule from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { ZodType } from 'zod';
import type { RouteAuth } from '../../src/api/plugins/auth';

/** One route as Fastify registered it: what the authorization matrix and the body fuzzer walk. */
export interface RecordedRoute {
  method: string;
  url: string;
  auth: RouteAuth | undefined;
  body: ZodType | undefined;
}

const recordedRoutesKey = Symbol.for('palyra.test.recordedRoutes');

type FastifyModule = typeof fastifyModule;

/**
 * The `fastify` module with its factory wrapped so that every instance records its routes from the
 * start (an `onRoute` hook installed before any plugin). For `jest.mock('fastify', ...)`: the app under
 * test is still built by the product's own `buildServer`, and no route can escape the record.
 */
export function routeRecordingFastify(actual: FastifyModule): FastifyModule {
  const factory = actual.default;
  const recording = ((options?: Parameters<typeof factory>[0]) => {
    const app = factory(options);
    const routes: RecordedRoute[] = [];
    Object.defineProperty(app, recordedRoutesKey, { value: routes });
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) {
        routes.push({
          method,
          url: route.url,
          auth: route.config?.auth,
          body: route.schema?.body as ZodType | undefined,
        });
      }
    });
    return app;
  }) as unknown as typeof factory;
  return Object.assign(recording, actual, { default: recording, fastify: recording }) as unknown as FastifyModule;
}

/**
 * The routes `app` registered, without the HEAD twins Fastify adds to every GET (same handler,
 * same hooks, same config).
 */
export function recordedRoutes(app: FastifyInstance): RecordedRoute[] {
  const routes = (app as unknown as Record<symbol, RecordedRoute[] | undefined>)[recordedRoutesKey];
  if (!routes) throw new Error("the app was not built through routeRecordingFastify: add jest.mock('fastify', ...)");
  const gets = new Set(routes.filter((route) => route.method === 'GET').map((route) => route.url));
  // A prefix's root route is registered with and without its trailing slash; only the twin's HEAD is seen.
  const isTwin = (route: RecordedRoute) =>
    route.method === 'HEAD' && (gets.has(route.url) || gets.has(route.url.replace(/\/$/, '')));
  return routes.filter((route) => !isTwin(route));
}

export const routeKey = (route: Pick<RecordedRoute, 'method' | 'url'>): string => `${route.method} ${route.url}`;
