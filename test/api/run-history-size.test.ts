import { setTimeout as delay } from 'node:timers/promises';
import { temporal } from '@temporalio/proto';
import type { FastifyInstance } from 'fastify';
import { runMemoKey, runWorkflowId, type RunDocument } from '../../src/temporal/contracts';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';
import { historySize } from '../support/history';
import { startRunWithTasks, summaryTask } from '../support/tasks';
import { startTestWorker } from '../support/temporal';

/**
 * A run's history stays bounded as its tasks grow: the memo carries a summary, published at most
 * once per workflow task, so a run with the most tasks a run may have stays far from Temporal's
 * 10 MB warning (before run summaries, this run made a 25 MB history of 1,933 events).
 */
let stack: TestStack;
let app: FastifyInstance;
let worker: { stop(): Promise<void> };
beforeAll(async () => {
  stack = await openTestStack({ tasks: { maxPerRun: 200, retryGraceMs: 0 } });
  app = stack.app;
  worker = await startTestWorker(stack.config, stack.ledger.repo);
});
afterAll(async () => {
  await worker?.stop();
  await stack?.close();
});

it('a run with 200 tasks keeps its history under 2 MB, and still shows every task', async () => {
  const tasks = 200;
  const started = await startRunWithTasks(app, {
    simulation: { outputTokens: 2, chunkDelayMs: 0 },
    maxConcurrentChildren: 20,
    backgroundTasks: Array.from({ length: tasks }, (_, i) =>
      summaryTask({ priority: (i % 21) - 10 }, { outputTokens: 2, chunkDelayMs: 0 }),
    ),
  });
  const handle = stack.client.workflow.getHandle(runWorkflowId(started.runId));
  const result = (await handle.result()) as RunDocument;
  expect(result.backgroundTasks.filter((task) => task.state === 'succeeded')).toHaveLength(tasks);

  const { bytes, events } = await historySize(handle);
  expect(bytes).toBeLessThan(2 * 1024 * 1024);
  expect(events).toBeGreaterThan(tasks); // the children are really in it

  // At most one memo upsert per workflow task, however many tasks changed in it.
  const history = await handle.fetchHistory();
  const count = (type: keyof typeof temporal.api.enums.v1.EventType) =>
    (history.events ?? []).filter((event) => event.eventType === temporal.api.enums.v1.EventType[type]).length;
  expect(count('EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED')).toBeLessThanOrEqual(count('EVENT_TYPE_WORKFLOW_TASK_COMPLETED'));

  // The memo is the summary: counts, no task list.
  const memo = (await handle.describe()).memo?.[runMemoKey] as Record<string, unknown>;
  expect(memo).not.toHaveProperty('backgroundTasks');
  expect(memo).toMatchObject({ state: 'succeeded', backgroundTaskCounts: { total: tasks, byState: { succeeded: tasks } } });

  // The API still shows every task, from the run's result.
  const run = await app.inject({ method: 'GET', url: `/v1/runs/${started.runId}`, headers: bearer(testTokens.admin) });
  expect(run.json().backgroundTasks).toHaveLength(tasks);
  const task = await app.inject({ method: 'GET', url: `/v1/tasks/${started.runId}-200`, headers: bearer(testTokens.admin) });
  expect(task.json()).toMatchObject({ taskId: `${started.runId}-200`, state: 'succeeded' });

  // A page of runs has the counts instead of the tasks (visibility is eventually consistent).
  let listed: { runId: string; backgroundTasks: unknown[]; backgroundTaskCounts: unknown } | undefined;
  for (let i = 0; i < 100 && !listed; i++) {
    const page = await app.inject({
      method: 'GET',
      url: '/v1/runs?tenantId=acme&state=succeeded&limit=200',
      headers: bearer(testTokens.admin),
    });
    listed = page.json().items.find((item: { runId: string }) => item.runId === started.runId);
    if (!listed) await delay(100);
  }
  expect(listed).toMatchObject({
    backgroundTasks: [],
    backgroundTaskCounts: {
      total: tasks,
      byState: { succeeded: tasks, failed: 0 },
      costMicroUsd: result.backgroundTasksCostMicroUsd,
    },
  });
}, 180_000);
