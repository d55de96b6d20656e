import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorResponses } from '../errors';
import { actionOf, fromBody, fromParams } from '../plugins/audit';
import { principalOf } from '../plugins/auth';
import {
  cancelRunResponseSchema,
  listRunsQuerySchema,
  runApprovalBodySchema,
  runIdParamsSchema,
  runListSchema,
  runSchema,
  startRunBodySchema,
  startRunResponseSchema,
} from './schemas';
import type { RunService } from './service';

export const runRoutes: FastifyPluginAsyncZod<{ runs: RunService }> = async (app, { runs }) => {
  app.post(
    '/v1/runs',
    {
      config: { auth: { role: 'service' } },
      schema: {
        summary: 'Start a run',
        description:
          'Starts the durable run workflow `run-<runId>` and answers with its budget decision: 202 admitted ' +
          '(possibly with maxOutputTokens clamped to the budget), 402 when a budget policy refuses it (with the numbers), ' +
          '422 when the model has no price, 409 when idempotencyKey was used with other parameters, ' +
          '503 `tenant_paused` (with Retry-After) while the tenant is paused, 503 `temporal_unavailable` (with ' +
          'Retry-After) when Temporal did not start the run within runs.admissionWaitMs.',
        tags: ['runs'],
        security: [{ bearer: [] }],
        body: startRunBodySchema,
        response: { 202: startRunResponseSchema, ...errorResponses(400, 401, 402, 403, 409, 413, 415, 422, 429, 500, 503) },
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

  app.get(
    '/v1/runs',
    {
      config: { auth: { role: 'service' } },
      schema: {
        summary: 'List runs',
        description:
          'Newest first, through Temporal visibility; filter by tenant, state, model, task class and start time ' +
          '(`since` inclusive, `until` exclusive); page with `cursor`.',
        tags: ['runs'],
        security: [{ bearer: [] }],
        querystring: listRunsQuerySchema,
        response: { 200: runListSchema, ...errorResponses(400, 401, 403, 429, 500, 503) },
      },
    },
    async (request) => runs.list(principalOf(request), request.query),
  );

  app.post(
    '/v1/runs/:runId/cancel',
    {
      config: { auth: { role: 'service' }, audit: { action: 'run.cancel', target: fromParams('runId') } },
      schema: {
        summary: 'Cancel a run',
        description:
          'Stops the provider call; the run settles what it consumed, releases the rest and ends `cancelled`. ' +
          '409 when the run has already ended.',
        tags: ['runs'],
        security: [{ bearer: [] }],
        params: runIdParamsSchema,
        response: { 202: cancelRunResponseSchema, ...errorResponses(400, 401, 403, 404, 409, 429, 500, 503) },
      },
    },
    async (request, reply) => {
      const run = await runs.cancel(principalOf(request), request.params.runId);
      return reply.code(202).send({ runId: run.runId, cancelRequested: true, state: run.state });
    },
  );

  app.post(
    '/v1/runs/:runId/approval',
    {
      config: {
        auth: { role: 'operator' },
        audit: { action: actionOf('run', ['approve', 'deny'], 'approval', fromBody('decision')), target: fromParams('runId') },
      },
      schema: {
        summary: 'Approve or deny a parked run',
        description:
          'For a run `awaiting_approval` because an `approval_required` budget policy refused it: `approve` admits it ' +
          'past those policies (recorded in the ledger as an approval override), `deny` ends it `denied`. ' +
          '409 when the run is not awaiting approval.',
        tags: ['runs'],
        security: [{ bearer: [] }],
        params: runIdParamsSchema,
        body: runApprovalBodySchema,
        response: { 200: runSchema, ...errorResponses(400, 401, 403, 404, 409, 429, 500, 503) },
      },
    },
    async (request) => runs.decideApproval(principalOf(request), request.params.runId, request.body),
  );
};
