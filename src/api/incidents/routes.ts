import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { incidentActions } from '../../domain/self-healing';
import { errorResponses } from '../errors';
import { actionOf, fromBody, fromParams } from '../plugins/audit';
import { principalOf } from '../plugins/auth';
import {
  incidentActionBodySchema,
  incidentIdParamsSchema,
  incidentListSchema,
  incidentSchema,
  listIncidentsQuerySchema,
} from './schemas';
import type { IncidentService } from './service';

export const incidentRoutes: FastifyPluginAsyncZod<{ incidents: IncidentService }> = async (app, { incidents }) => {
  app.get(
    '/v1/incidents',
    {
      config: { auth: { role: 'operator' } },
      schema: {
        summary: 'List incidents',
        description:
          'Newest first, through Temporal visibility; filter by state, detector and severity; page with `cursor` until ' +
          "`nextCursor` is null (a tenant-scoped token may get short pages). A tenant-scoped token sees its tenants' " +
          'incidents only; installation-wide ones (task queues, workflows) need an all-tenant token.',
        tags: ['incidents'],
        security: [{ bearer: [] }],
        querystring: listIncidentsQuerySchema,
        response: { 200: incidentListSchema, ...errorResponses(400, 401, 403, 429, 500, 503) },
      },
    },
    async (request) => incidents.list(principalOf(request), request.query),
  );

  app.get(
    '/v1/incidents/:incidentId',
    {
      config: { auth: { role: 'operator' } },
      schema: {
        summary: 'Get an incident',
        description:
          'Evidence, remediation, attempts and recent history of one incident, read live from its workflow (or from its ' +
          'memo when the workflow has ended or no worker answers in time). 404 for an incident the token cannot see.',
        tags: ['incidents'],
        security: [{ bearer: [] }],
        params: incidentIdParamsSchema,
        response: { 200: incidentSchema, ...errorResponses(400, 401, 403, 404, 429, 500, 503) },
      },
    },
    async (request) => incidents.get(principalOf(request), request.params.incidentId),
  );

  app.post(
    '/v1/incidents/:incidentId/actions',
    {
      config: {
        auth: { role: 'sre' },
        audit: {
          action: actionOf('incident', incidentActions, 'action', fromBody('action')),
          target: fromParams('incidentId'),
        },
      },
      schema: {
        summary: 'Approve, reject, retry or resolve an incident',
        description:
          "A decision recorded under the token's name, taken by the incident workflow (the same as its `decide` signal): " +
          '`approve` from awaiting_approval runs the remediation; `reject` from open or awaiting_approval resolves it with ' +
          'nothing done; `retry` from failed offers the remediation again; `resolve` from open, awaiting_approval or failed ' +
          'resolves it by hand. An illegal decision, or one for an incident whose workflow has ended, is a 409 naming ' +
          'its state. Answers the incident as the decision left it.',
        tags: ['incidents'],
        security: [{ bearer: [] }],
        params: incidentIdParamsSchema,
        body: incidentActionBodySchema,
        response: { 200: incidentSchema, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 500, 503) },
      },
    },
    async (request) => incidents.decide(principalOf(request), request.params.incidentId, request.body),
  );
};
