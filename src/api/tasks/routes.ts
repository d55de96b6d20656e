import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { taskOperatorActions } from '../../domain/tasks';
import { errorResponses } from '../errors';
import { actionOf, bodyFacts, fromParams } from '../plugins/audit';
import { principalOf } from '../plugins/auth';
import { runIdParamsSchema } from '../runs/schemas';
import {
  addTasksBodySchema,
  addTasksResponseSchema,
  taskActionBodySchema,
  taskActionParamsSchema,
  taskIdParamsSchema,
  taskSchema,
} from './schemas';
import type { TaskService } from './service';

export const taskRoutes: FastifyPluginAsyncZod<{ tasks: TaskService }> = async (app, { tasks }) => {
  app.get(
    '/v1/tasks/:taskId',
    {
      config: { auth: { role: 'operator' } },
      schema: {
        summary: 'Get a background task',
        description: 'State, attempt, cost, result and error of one task; a running task is read live from its child workflow.',
        tags: ['tasks'],
        security: [{ bearer: [] }],
        params: taskIdParamsSchema,
        response: { 200: taskSchema, ...errorResponses(400, 401, 403, 404, 429, 500, 503) },
      },
    },
    async (request) => tasks.get(principalOf(request), request.params.taskId),
  );

  app.post(
    '/v1/tasks/:taskId/:action',
    {
      config: {
        auth: { role: 'operator' },
        audit: {
          action: actionOf('task', taskOperatorActions, 'action', fromParams('action')),
          target: fromParams('taskId'),
          detail: bodyFacts('expiresAt'),
        },
      },
      schema: {
        summary: 'Pause, resume, retry or cancel a background task',
        description:
          '`pause` from queued; `resume` from paused; `retry` from failed, cancelled or expired (the attempt count starts ' +
          'again; body `expiresAt` sets a new deadline, null drops it, and one already past is dropped); `cancel` from ' +
          'queued, paused or running (a running child settles what it consumed and releases the rest). ' +
          'An illegal transition is a 409 naming the task state.',
        tags: ['tasks'],
        security: [{ bearer: [] }],
        params: taskActionParamsSchema,
        body: taskActionBodySchema,
        response: { 200: taskSchema, ...errorResponses(400, 401, 403, 404, 409, 429, 500, 503) },
      },
    },
    async (request) => tasks.act(principalOf(request), request.params.taskId, request.params.action, request.body),
  );

  app.post(
    '/v1/runs/:runId/tasks',
    {
      config: { auth: { role: 'service' } },
      schema: {
        summary: 'Add background tasks to a run',
        description:
          'Adds tasks to a run that has not ended (they start once it is admitted, in priority order). ' +
          '409 when the run has ended or is finishing, or the tasks would exceed tasks.maxPerRun.',
        tags: ['tasks'],
        security: [{ bearer: [] }],
        params: runIdParamsSchema,
        body: addTasksBodySchema,
        response: { 201: addTasksResponseSchema, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 500, 503) },
      },
    },
    async (request, reply) =>
      reply.code(201).send({ tasks: await tasks.add(principalOf(request), request.params.runId, request.body) }),
  );
};
