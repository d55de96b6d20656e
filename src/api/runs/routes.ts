import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorResponses } from '../errors';
import { principalOf } from '../plugins/auth';
import { runIdParamsSchema, runSchema, startRunBodySchema, startRunResponseSchema } from './schemas';
import type { RunService } from './service';

export const runRoutes: FastifyPluginAsyncZod<{ runs: RunService }> = async (app, { runs }) => {
  app.post(
    '/v1/runs',
    {
      config: { auth: { role: 'service' } },
      schema: {
        summary: 'Start a run',
        description: 'Starts the durable run workflow `run-<runId>` and answers once Temporal has accepted it.',
        tags: ['runs'],
        security: [{ bearer: [] }],
        body: startRunBodySchema,
        response: { 202: startRunResponseSchema, ...errorResponses(400, 401, 403, 413, 415, 429, 500, 503) },
      },
    },
    async (request, reply) => reply.code(202).send(await runs.start(principalOf(request), request.body)),
  );

  app.get(
    '/v1/runs/:runId',
    {
      config: { auth: { role: 'service' } },
      schema: {
        summary: 'Get a run',
        tags: ['runs'],
        security: [{ bearer: [] }],
        params: runIdParamsSchema,
        response: { 200: runSchema, ...errorResponses(400, 401, 403, 404, 429, 500, 503) },
      },
    },
    async (request) => runs.get(principalOf(request), request.params.runId),
  );
};
