import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { backgroundTaskWorkflowId } from '../../src/temporal/contracts';
import { bearer, testTokens } from './app';
import { postRun } from './runs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- task documents as JSON, asserted field by field
type TaskJson = any;

/** `GET /v1/tasks/:taskId` as the operator. */
export async function getTask(app: FastifyInstance, taskId: string): Promise<TaskJson> {
  const response = await app.inject({ method: 'GET', url: `/v1/tasks/${taskId}`, headers: bearer(testTokens.operator) });
  if (response.statusCode !== 200) throw new Error(`GET task ${taskId}: ${response.statusCode} ${response.body}`);
  return response.json();
}

/** Polls the task until `predicate` holds; returns the task document. */
export async function waitForTask(
  app: FastifyInstance,
  taskId: string,
  predicate: (task: TaskJson) => boolean,
  what = 'the expected state',
): Promise<TaskJson> {
  let task: TaskJson;
  for (let i = 0; i < 400; i++) {
    task = await getTask(app, taskId);
    if (predicate(task)) return task;
    await delay(50);
  }
  throw new Error(`task ${taskId} did not reach ${what}; last seen ${JSON.stringify(task)}`);
}

/** `POST /v1/tasks/:taskId/:action` as the operator. */
export function taskAction(app: FastifyInstance, taskId: string, action: string, payload: Record<string, unknown> = {}) {
  return app.inject({
    method: 'POST',
    url: `/v1/tasks/${taskId}/${action}`,
    headers: bearer(testTokens.operator),
    payload,
  });
}

/** No child workflow of these tasks is still open: nothing was left running behind the run. */
export async function expectNoOpenChildren(client: Client, taskIds: readonly string[]): Promise<void> {
  const open: string[] = [];
  for (const taskId of taskIds) {
    try {
      const description = await client.workflow.getHandle(backgroundTaskWorkflowId(taskId)).describe();
      if (description.status.name === 'RUNNING') open.push(taskId);
    } catch (error) {
      // Never dispatched: no child workflow exists.
      if ((error as Error).name !== 'WorkflowNotFoundError') throw error;
    }
  }
  expect(open).toEqual([]);
}

/** A summary task for the simulated provider, paced by `outputTokens` × `chunkDelayMs`. */
export function summaryTask(overrides: Record<string, unknown> = {}, simulation = { outputTokens: 3, chunkDelayMs: 5 }) {
  return {
    kind: 'summary',
    input: { text: 'The quarterly report says revenue grew and costs fell.' },
    model: 'sim-small',
    simulation,
    ...overrides,
  };
}

/** `POST /v1/runs` for acme with these extra fields (a short simulated answer by default). */
export function postTaskRun(app: FastifyInstance, body: Record<string, unknown>) {
  return postRun(app, {
    principalId: 'svc-notes',
    messages: [{ role: 'user', content: 'take notes on the meeting' }],
    model: 'sim-standard',
    simulation: { outputTokens: 4, chunkDelayMs: 5 },
    ...body,
  });
}

/** Starts a run (202 expected) and returns its answer. */
export async function startRunWithTasks(app: FastifyInstance, body: Record<string, unknown>): Promise<TaskJson> {
  const response = await postTaskRun(app, body);
  if (response.statusCode !== 202) throw new Error(`POST /v1/runs: ${response.statusCode} ${response.body}`);
  return response.json();
}

/** `POST /v1/runs/:runId/tasks` as the run's service. */
export function addTasks(app: FastifyInstance, runId: string, backgroundTasks: unknown[]) {
  return app.inject({
    method: 'POST',
    url: `/v1/runs/${runId}/tasks`,
    headers: bearer(testTokens.acmeService),
    payload: { backgroundTasks },
  });
}
