import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { LedgerRepository } from '../../ledger';
import type { RoutePlanner } from '../../route-planner/planner';
import { errorResponses } from '../errors';
import { assertPrincipalAccess, assertTenantAccess, principalOf } from '../plugins/auth';
import { routePlanBodySchema, routingDecisionSchema } from './schemas';

export const routingRoutes: FastifyPluginAsyncZod<{ planner: RoutePlanner; ledger: LedgerRepository }> = async (
  app,
  { planner, ledger },
) => {
  app.post(
    '/v1/routing/plan',
    {
      config: { auth: { role: 'service' } },
      schema: {
        summary: 'Plan a route without starting a run',
        description:
          'Which model a run with these parameters would use now, and why: candidates with the reason each was ' +
          'excluded, the action and one sentence per rule that fired. Nothing starts and nothing is reserved; the ' +
          'decision is recorded like a run’s.',
        tags: ['routing'],
        security: [{ bearer: [] }],
        body: routePlanBodySchema,
        response: { 200: routingDecisionSchema, ...errorResponses(400, 401, 403, 413, 415, 429, 500, 503) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      assertTenantAccess(principal, request.body.tenantId);
      assertPrincipalAccess(principal, request.body.principalId);
      const decision = await planner.plan(request.body);
      const decisionId = `plan-${randomUUID()}`;
      await ledger.recordRoutingDecision({
        decisionId,
        runId: null,
        tenantId: request.body.tenantId,
        principalId: request.body.principalId,
        decision,
      });
      return { decisionId, ...decision };
    },
  );
};
