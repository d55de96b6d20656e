import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { buildDiagnostics, type DiagnosticsDeps } from '../../diagnostics';
import { errorResponses } from '../errors';
import { diagnosticsSchema } from './schemas';

export const diagnosticsRoutes: FastifyPluginAsyncZod<{ deps: DiagnosticsDeps }> = async (app, { deps }) => {
  app.get(
    '/console/v1/diagnostics',
    {
      config: { auth: { role: 'operator', allTenants: true } },
      schema: {
        summary: 'Diagnose the installation',
        description:
          'Temporal, task queues, ledger, budgets, routing, background tasks, self-healing, supervisor, this process and ' +
          'the effective config (secrets redacted), gathered concurrently, each section within its own deadline. A ' +
          'section that fails or times out is `unavailable` with its error; the answer is still 200. The overall ' +
          'status is the worst section status, `unavailable` counting as `degraded`. Reads only.',
        tags: ['diagnostics'],
        security: [{ bearer: [] }],
        response: { 200: diagnosticsSchema, ...errorResponses(401, 403, 429, 500) },
      },
    },
    async () => buildDiagnostics(deps),
  );
};
