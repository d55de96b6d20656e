import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { runWorkflowId, type RunDocument } from '../../src/temporal/contracts';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';
import { historySize } from '../support/history';
import { expectBooksClosed, waitForRunEnd } from '../support/runs';
import { expectNoOpenChildren, getTask, startRunWithTasks, summaryTask, taskAction, waitForTask } from '../support/tasks';
import { startTestWorker } from '../support/temporal';

/**
 * Operator retries are the one thing that grows a run's history without bound: a run waiting on
 * its tasks' retries continues as new past `tasks.historyEventsBeforeContinueAsNew`, with its
 * state. Here the bound is the smallest the config allows, so a few retries cross it.
 */
const historyEventsBeforeContinueAsNew = 100;
let stack: TestStack;
let app: FastifyInstance;
let worker: { stop(): Promise<void> };
beforeAll(async () => {
  stack = await openTestStack({ tasks: { retryGraceMs: 10_000, historyEventsBeforeContinueAsNew } });
  app = stack.app;
  worker = await startTestWorker(stack.config, stack.ledger.repo);
});
afterAll(async () => {
  await worker?.stop();
  await stack?.close();
});

it('past twice its bound with a task still running, the run refuses new task work naming the bound, and cancel still works', async () => {
  const started = await startRunWithTasks(app, {
    simulation: { outputTokens: 2, chunkDelayMs: 0 },
    maxConcurrentChildren: 1,
    backgroundTasks: [
      summaryTask({ priority: 1 }, { outputTokens: 4_000, chunkDelayMs: 10 }),
      summaryTask({ priority: 0 }, { outputTokens: 2, chunkDelayMs: 0 }),
    ],
  });
  const [slowId, queuedId] = [1, 2].map((n) => `${started.runId}-${n}`) as [string, string];
  await waitForTask(app, slowId, (task) => task.state === 'running', 'running');

  // Each pause or resume of the queued task is an update in the run's history.
  let refused: { statusCode: number; json(): { error: { message: string } } } | undefined;
  for (let i = 0; i < 200 && !refused; i++) {
    const action = i % 2 === 0 ? 'pause' : 'resume';
    const response = await taskAction(app, queuedId, action);
    if (response.statusCode !== 200) refused = response;
  }
  expect(refused?.statusCode).toBe(409);
  expect(refused?.json().error.message).toMatch(
    /history events, past twice its bound of 100 \(tasks\.historyEventsBeforeContinueAsNew\), and its tasks are still running/,
  );
  const { events } = await historySize(stack.client.workflow.getHandle(runWorkflowId(started.runId)));
  expect(events).toBeLessThan(2 * historyEventsBeforeContinueAsNew + 20);

  // Cancelling ends work, so it is still taken; the run then finishes as usual.
  for (const taskId of [slowId, queuedId]) expect((await taskAction(app, taskId, 'cancel')).statusCode).toBe(200);
  const run = await waitForRunEnd(app, started.runId);
  expect(run.backgroundTasks.map((task: { state: string }) => task.state)).toEqual(['cancelled', 'cancelled']);
  await expectNoOpenChildren(stack.client, [slowId, queuedId]);
});

// Last: its provider's 500s open the simulated provider's circuit breaker for the rest of the file.
it('a run retried past its history bound continues as new with every task, and the API shows one run throughout', async () => {
  const alwaysFails = { outputTokens: 2, chunkDelayMs: 0, failAttempts: 99, failure: 'http_500' as const };
  const started = await startRunWithTasks(app, {
    simulation: { outputTokens: 2, chunkDelayMs: 0 },
    backgroundTasks: [summaryTask({}, { outputTokens: 2, chunkDelayMs: 0 }), summaryTask({ maxAttempts: 1 }, alwaysFails)],
  });
  const [goodId, failingId] = [1, 2].map((n) => `${started.runId}-${n}`) as [string, string];
  const handle = stack.client.workflow.getHandle(runWorkflowId(started.runId));
  const firstExecution = (await handle.describe()).runId;

  // Retry the failing task until the run hands over to a new execution, then twice more on it.
  let retries = 0;
  let retriesAfterHandOver = 0;
  while (retriesAfterHandOver < 2) {
    await waitForTask(app, failingId, (task) => task.state === 'failed' && task.dispatches === retries + 1, 'failed');
    const retried = await taskAction(app, failingId, 'retry');
    expect(retried.statusCode).toBe(200);
    retries += 1;
    if ((await handle.describe()).runId !== firstExecution) retriesAfterHandOver += 1;
    if (retries > 40) throw new Error(`the run did not continue as new after ${retries} retries`);
  }

  // The first execution ended by continuing as new, near its bound; the run's state went along.
  const first = stack.client.workflow.getHandle(runWorkflowId(started.runId), firstExecution);
  expect((await first.describe()).status.name).toBe('CONTINUED_AS_NEW');
  const { events } = await historySize(first);
  expect(events).toBeGreaterThanOrEqual(historyEventsBeforeContinueAsNew);
  expect(events).toBeLessThan(historyEventsBeforeContinueAsNew + 40);

  // While open, the run reads as one run with both tasks and every dispatch of the failing one.
  const open = (await app.inject({ method: 'GET', url: `/v1/runs/${started.runId}`, headers: bearer(testTokens.admin) })).json();
  expect(open).toMatchObject({ runId: started.runId, state: 'running' });
  expect(open.backgroundTasks.map((task: { taskId: string }) => task.taskId)).toEqual([goodId, failingId]);
  expect(open.temporal.runId).not.toBe(firstExecution);

  const run = await waitForRunEnd(app, started.runId);
  expect(run.state).toBe('succeeded');
  const [good, failing] = run.backgroundTasks;
  expect(good).toMatchObject({ taskId: goodId, state: 'succeeded', dispatches: 1 });
  expect(failing).toMatchObject({ taskId: failingId, state: 'failed', dispatches: retries + 1 });
  // Its last error: the provider's 500s, or the circuit breaker they opened.
  expect(failing.error).toMatchObject({ message: expect.stringMatching(/500|circuit breaker/) });
  // The run's own answer and its cost came through the hand-over.
  expect(run.output).toEqual(expect.stringMatching(/\S/));
  expect(run.costMicroUsd).toBeGreaterThan(0);
  expect(run.backgroundTasksCostMicroUsd).toBe(good.costMicroUsd + failing.costMicroUsd);
  expect(((await handle.result()) as RunDocument).state).toBe('succeeded');
  expect(await getTask(app, failingId)).toMatchObject({ state: 'failed', dispatches: retries + 1 });

  // Listed once: the execution that continued as new is left out (visibility is eventually consistent).
  let listed: { runId: string; state: string }[] = [];
  for (let i = 0; i < 100; i++) {
    const page = await app.inject({ method: 'GET', url: '/v1/runs?tenantId=acme&limit=200', headers: bearer(testTokens.admin) });
    listed = page.json().items.filter((item: { runId: string }) => item.runId === started.runId);
    if (listed.length === 1 && listed[0]?.state === 'succeeded') break;
    await delay(100);
  }
  expect(listed).toEqual([expect.objectContaining({ runId: started.runId, state: 'succeeded' })]);
  const running = await app.inject({
    method: 'GET',
    url: '/v1/runs?tenantId=acme&state=running',
    headers: bearer(testTokens.admin),
  });
  expect(running.json().items.map((item: { runId: string }) => item.runId)).not.toContain(started.runId);

  await expectNoOpenChildren(stack.client, [goodId, failingId]);
  await expectBooksClosed(stack.ledger);
});
