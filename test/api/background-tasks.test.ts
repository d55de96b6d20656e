import type { FastifyInstance } from 'fastify';
import { setTimeout as delay } from 'node:timers/promises';
import {
  backgroundTaskWorkflowId,
  runWorkflowId,
  taskAttemptBookingId,
  type BackgroundTaskOutcome,
} from '../../src/temporal/contracts';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';
import { expectBooksClosed, waitForRunEnd } from '../support/runs';
import {
  addTasks,
  expectNoOpenChildren,
  getTask,
  postTaskRun,
  startRunWithTasks,
  summaryTask,
  taskAction,
  waitForTask,
} from '../support/tasks';
import { startTestWorker } from '../support/temporal';

/**
 * Background tasks against the real dev server: concurrency limits, cancellation propagation and
 * operator actions. Timers (notBefore, expiry, timeouts, retry backoff) are in
 * test/workflows/background-tasks.test.ts on the time-skipping server.
 */
let stack: TestStack;
let app: FastifyInstance;
let worker: { stop(): Promise<void> };
beforeAll(async () => {
  // A short grace: a finished run stays open 3 s for a retry of a task that did not succeed.
  // A stream silent for 2 s counts as stalled.
  stack = await openTestStack({
    runs: { heartbeatTimeoutMs: 2_000 },
    tasks: { retryInitialIntervalMs: 50, retryMaximumIntervalMs: 200, retryGraceMs: 3_000 },
  });
  app = stack.app;
  // One worker for the whole file: the cases differ in their runs, not in their worker.
  worker = await startTestWorker(stack.config, stack.ledger.repo);
});
afterAll(async () => {
  await worker?.stop();
  await stack?.close();
});

const startRun = (body: Record<string, unknown>) => startRunWithTasks(app, body);

/** What every case must leave behind: balanced books, nothing on hold, no child still running. */
async function expectAllClosed(taskIds: readonly string[]): Promise<void> {
  await expectBooksClosed(stack.ledger);
  await expectNoOpenChildren(stack.client, taskIds);
}

describe('background tasks on the dev server', () => {
  it('starts waiting tasks in priority order, then creation order, one at a time under a limit of 1', async () => {
    const started = await startRun({
      maxConcurrentChildren: 1,
      backgroundTasks: [
        summaryTask({ priority: 0 }),
        summaryTask({ priority: 5 }),
        summaryTask({ priority: -3 }),
        summaryTask({ priority: 5 }),
      ],
    });
    const taskIds: string[] = started.backgroundTasks.map((task: { taskId: string }) => task.taskId);
    expect(taskIds).toEqual([1, 2, 3, 4].map((n) => `${started.runId}-${n}`));
    expect(started.backgroundTasks.map((task: { state: string }) => task.state)).toEqual([
      'queued',
      'queued',
      'queued',
      'queued',
    ]);

    const run = await waitForRunEnd(app, started.runId);
    expect(run.state).toBe('succeeded');
    const tasks = run.backgroundTasks as {
      taskId: string;
      sequence: number;
      state: string;
      startedAt: string;
      finishedAt: string;
      costMicroUsd: number;
    }[];
    expect(tasks.map((task) => task.state)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    const byStart = [...tasks].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
    expect(byStart.map((task) => task.sequence)).toEqual([2, 4, 1, 3]);
    // Never two at once: each starts after the one before it has ended.
    for (let i = 1; i < byStart.length; i++) {
      expect(Date.parse(byStart[i]!.startedAt)).toBeGreaterThanOrEqual(Date.parse(byStart[i - 1]!.finishedAt));
    }
    // Each paid its own reservation, charged to the run's tenant and principal.
    for (const task of tasks) {
      expect(task.costMicroUsd).toBeGreaterThan(0);
      const reservation = await stack.ledger.repo.getReservation(taskAttemptBookingId(task.taskId, 1, 1));
      expect(reservation).toMatchObject({ state: 'settled', settledMicroUsd: task.costMicroUsd });
    }
    expect(run.backgroundTasksCostMicroUsd).toBe(tasks.reduce((sum, task) => sum + task.costMicroUsd, 0));

    const one = await getTask(app, taskIds[0]!);
    expect(one).toMatchObject({ taskId: taskIds[0], runId: started.runId, kind: 'summary', state: 'succeeded', attempt: 1 });
    expect(one.result).toEqual(expect.any(String));
    expect(one.temporal.workflowId).toBe(`bgtask-${taskIds[0]}`);
    await expectAllClosed(taskIds);
  });

  it('cancelling the run cancels its running and queued tasks, settling what they used; a finished task stays finished', async () => {
    const slow = { outputTokens: 400, chunkDelayMs: 25 };
    const started = await startRun({
      maxConcurrentChildren: 1,
      backgroundTasks: [summaryTask({ priority: 10 }), summaryTask({ priority: 5 }, slow), summaryTask({ priority: 0 })],
    });
    const [finishedId, runningId, queuedId] = [1, 2, 3].map((n) => `${started.runId}-${n}`) as [string, string, string];

    await waitForTask(app, finishedId, (task) => task.state === 'succeeded', 'succeeded');
    await waitForTask(app, runningId, (task) => task.state === 'running' && task.costMicroUsd === 0, 'running');
    // Let the slow one stream a little before the cancel, so it has something to pay for.
    await delay(500);
    const cancel = await app.inject({
      method: 'POST',
      url: `/v1/runs/${started.runId}/cancel`,
      headers: bearer(testTokens.acmeService),
    });
    expect(cancel.statusCode).toBe(202);
    const run = await waitForRunEnd(app, started.runId);

    expect(run.state).toBe('cancelled');
    const [finished, running, queued] = run.backgroundTasks;
    expect(finished).toMatchObject({ state: 'succeeded' });
    expect(finished.error).toBeUndefined();
    expect(running).toMatchObject({ state: 'cancelled', error: { code: 'parent_cancelled' } });
    expect(queued).toMatchObject({ state: 'cancelled', dispatches: 0, costMicroUsd: 0, error: { code: 'parent_cancelled' } });

    // The cancelled child paid for the prompt and the tokens it streamed, and no more.
    const booking = await stack.ledger.repo.getReservation(taskAttemptBookingId(runningId, 1, 1));
    expect(booking?.state).toBe('settled');
    expect(booking?.settledMicroUsd).toBe(running.costMicroUsd);
    expect(running.costMicroUsd).toBeGreaterThan(0);
    expect(running.costMicroUsd).toBeLessThan(booking!.amountMicroUsd);
    expect(await stack.ledger.repo.getReservation(taskAttemptBookingId(queuedId, 1, 1))).toBeUndefined();
    await expectAllClosed([finishedId, runningId, queuedId]);
  });

  it('lets an operator pause, resume, cancel and retry tasks, and refuses an illegal transition naming the state', async () => {
    const slow = { outputTokens: 80, chunkDelayMs: 25 };
    const started = await startRun({
      maxConcurrentChildren: 1,
      backgroundTasks: [summaryTask({ priority: 1 }, slow), summaryTask({ priority: 0 })],
    });
    const [slowId, fastId] = [1, 2].map((n) => `${started.runId}-${n}`) as [string, string];

    await waitForTask(app, slowId, (task) => task.state === 'running', 'running');

    const paused = await taskAction(app, fastId, 'pause');
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toMatchObject({ taskId: fastId, state: 'paused' });

    const illegal = await taskAction(app, fastId, 'retry');
    expect(illegal.statusCode).toBe(409);
    expect(illegal.json().error.message).toMatch(/is paused; retry is only possible from failed, cancelled, expired/);
    const pauseRunning = await taskAction(app, slowId, 'pause');
    expect(pauseRunning.statusCode).toBe(409);
    expect(pauseRunning.json().error.message).toMatch(/is running/);

    const cancelled = await taskAction(app, slowId, 'cancel');
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json().state).toBe('cancel_requested');
    const slowCancelled = await waitForTask(app, slowId, (task) => task.state === 'cancelled', 'cancelled');
    expect(slowCancelled.error).toMatchObject({ code: 'cancelled_by_operator', message: 'cancelled by operator' });

    // Paused, the fast task does not start although the slot is free.
    expect((await getTask(app, fastId)).state).toBe('paused');
    expect((await taskAction(app, fastId, 'resume')).json().state).toBe('queued');
    await waitForTask(app, fastId, (task) => task.state === 'succeeded', 'succeeded');

    const retried = await taskAction(app, slowId, 'retry');
    expect(retried.statusCode).toBe(200);
    expect(retried.json()).toMatchObject({ state: 'queued', attempt: 0 });
    expect(retried.json().error).toBeUndefined();
    const run = await waitForRunEnd(app, started.runId);

    expect(run.state).toBe('succeeded');
    const [slowTask, fastTask] = run.backgroundTasks;
    expect(slowTask).toMatchObject({ state: 'succeeded', attempt: 1, dispatches: 2 });
    expect(fastTask).toMatchObject({ state: 'succeeded', dispatches: 1 });
    // The cancelled dispatch paid for what it streamed, the retried one for its answer: both count.
    const first = await stack.ledger.repo.getReservation(taskAttemptBookingId(slowId, 1, 1));
    const second = await stack.ledger.repo.getReservation(taskAttemptBookingId(slowId, 2, 1));
    expect(slowTask.costMicroUsd).toBe((first?.settledMicroUsd ?? 0) + (second?.settledMicroUsd ?? 0));

    // The run has ended: its tasks can no longer be acted on.
    const late = await taskAction(app, fastId, 'retry');
    expect(late.statusCode).toBe(409);
    expect(late.json().error.message).toMatch(/is succeeded/);
    await expectAllClosed([slowId, fastId]);
  });

  it('adds tasks to a running run, retries a failing task up to maxAttempts and ends it failed with the last error', async () => {
    const started = await startRun({ simulation: { outputTokens: 60, chunkDelayMs: 20 } });
    await waitForRunState(started.runId, 'running');
    const added = await addTasks(app, started.runId, [
      summaryTask({ maxAttempts: 2 }, { outputTokens: 3, chunkDelayMs: 5, failAttempts: 5, failure: 'http_500' } as never),
      // Names the dearest model: side work still goes where routing sends it, never above the default.
      { kind: 'classification', input: { text: 'refund please', labels: ['billing', 'support'] }, model: 'sim-premium' },
    ]);
    expect(added.statusCode).toBe(201);
    expect(added.json().tasks.map((task: { taskId: string }) => task.taskId)).toEqual([
      `${started.runId}-1`,
      `${started.runId}-2`,
    ]);
    const run = await waitForRunEnd(app, started.runId);
    expect(run.state).toBe('succeeded');
    const [failing, classified] = run.backgroundTasks;
    expect(failing).toMatchObject({ state: 'failed', attempt: 2, maxAttempts: 2, error: { code: 'provider_unavailable' } });
    expect(classified).toMatchObject({ state: 'succeeded', kind: 'classification' });
    // The auxiliary task was routed on its own: never dearer than the default model.
    expect(['sim-small', 'sim-standard']).toContain(classified.model.selected);

    const ended = await addTasks(app, started.runId, [summaryTask()]);
    expect(ended.statusCode).toBe(409);
    expect(ended.json().error.message).toMatch(/has ended succeeded/);
    await expectAllClosed([`${started.runId}-1`, `${started.runId}-2`]);
  });

  it('takes new tasks while it waits for the ones it has, and waits for those too', async () => {
    const started = await startRun({ backgroundTasks: [summaryTask({}, { outputTokens: 80, chunkDelayMs: 25 })] });
    await waitForTask(app, `${started.runId}-1`, (task) => task.state === 'running', 'running');
    await delay(500); // the run's own answer (4 tokens) is done by now: it only waits for its task
    const added = await addTasks(app, started.runId, [summaryTask()]);
    expect(added.statusCode).toBe(201);
    const run = await waitForRunEnd(app, started.runId);
    expect(run.state).toBe('succeeded');
    expect(run.backgroundTasks.map((task: { state: string }) => task.state)).toEqual(['succeeded', 'succeeded']);
    await expectAllClosed([`${started.runId}-1`, `${started.runId}-2`]);
  });

  it('charges a stalled attempt for what it streamed and retries the task', async () => {
    const stallsOnce = { outputTokens: 20, chunkDelayMs: 5, stallAfterTokens: 5, stallMs: 5_000 };
    const started = await startRun({ backgroundTasks: [summaryTask({}, stallsOnce as never)] });
    const taskId = `${started.runId}-1`;
    const run = await waitForRunEnd(app, started.runId);
    const [task] = run.backgroundTasks;
    expect(task).toMatchObject({ state: 'succeeded', attempt: 2 });
    const stalled = await stack.ledger.repo.getReservation(taskAttemptBookingId(taskId, 1, 1));
    const answered = await stack.ledger.repo.getReservation(taskAttemptBookingId(taskId, 1, 2));
    // The stalled attempt pays for its prompt and the 5 tokens it streamed; the second for its answer.
    expect(stalled).toMatchObject({ state: 'settled' });
    expect(stalled!.settledMicroUsd).toBeGreaterThan(0);
    expect(answered).toMatchObject({ state: 'settled' });
    expect(task.costMicroUsd).toBe(stalled!.settledMicroUsd! + answered!.settledMicroUsd!);
    await expectAllClosed([taskId]);
  });

  it('a terminated run does not leave its tasks running: the parent-close policy cancels them and they settle', async () => {
    const started = await startRun({ backgroundTasks: [summaryTask({}, { outputTokens: 400, chunkDelayMs: 25 })] });
    const taskId = `${started.runId}-1`;
    await waitForTask(app, taskId, (task) => task.state === 'running', 'running');
    await delay(300);
    await stack.client.workflow.getHandle(runWorkflowId(started.runId)).terminate('test: operator terminated the run');
    const child = stack.client.workflow.getHandle(backgroundTaskWorkflowId(taskId));
    const outcome = (await child.result()) as BackgroundTaskOutcome;
    expect(outcome.state).toBe('cancelled');
    expect(outcome.costMicroUsd).toBeGreaterThan(0);
    const run = await waitForRunEnd(app, started.runId);
    expect(run).toMatchObject({ state: 'failed', error: { code: 'terminated' } });
    expect((await stack.ledger.repo.getReservation(taskAttemptBookingId(taskId, 1, 1)))?.state).toBe('settled');
    await expectAllClosed([taskId]);
  });

  it('a detached run completes once its tasks have started; GET /v1/tasks follows the task to its end', async () => {
    const started = await startRun({
      detachBackgroundTasks: true,
      backgroundTasks: [summaryTask({}, { outputTokens: 80, chunkDelayMs: 25 })],
    });
    const taskId = `${started.runId}-1`;
    const run = await waitForRunEnd(app, started.runId);
    expect(run.state).toBe('succeeded');
    expect(run.backgroundTasks[0].state).toBe('running');
    const task = await waitForTask(app, taskId, (t) => t.state === 'succeeded', 'succeeded after its run');
    expect(task.costMicroUsd).toBeGreaterThan(0);
    expect(task.result).toEqual(expect.any(String));
    expect(task.temporal.runId).toEqual(expect.any(String));
    await expectAllClosed([taskId]);
  });

  it('a delegated_run task takes the full governed path: its own route, reservation and settlement', async () => {
    const started = await startRun({
      backgroundTasks: [
        {
          kind: 'delegated_run',
          input: { messages: [{ role: 'user', content: 'draft the follow-up email' }], taskClass: 'background_automation' },
          budgetTokens: 50,
          simulation: { outputTokens: 20, chunkDelayMs: 5 },
        },
      ],
    });
    const taskId = `${started.runId}-1`;
    const run = await waitForRunEnd(app, started.runId);
    const [delegated] = run.backgroundTasks;
    expect(delegated).toMatchObject({ kind: 'delegated_run', state: 'succeeded', budgetTokens: 50 });
    const booking = taskAttemptBookingId(taskId, 1, 1);
    const decision = await stack.ledger.repo.getRoutingDecision(booking);
    expect(decision?.taskClass).toBe('background_automation');
    const reservation = await stack.ledger.repo.getReservation(booking);
    // budgetTokens caps the attempt's output, so its reservation is sized to 50 tokens.
    expect(reservation).toMatchObject({ state: 'settled', maxOutputTokens: 50, settledMicroUsd: delegated.costMicroUsd });
    await expectAllClosed([taskId]);
  });
});

async function waitForRunState(runId: string, state: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const run = (await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: bearer(testTokens.admin) })).json();
    if (run.state === state) return;
    await delay(25);
  }
  throw new Error(`run ${runId} never reached ${state}`);
}

describe('background task requests', () => {
  const tasksOf = (backgroundTasks: unknown[]) => postTaskRun(app, { backgroundTasks });
  const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

  it.each([
    [
      'an expiresAt in the past',
      [summaryTask({ expiresAt: new Date(Date.now() - 1000).toISOString() })],
      'body.backgroundTasks.0.expiresAt',
      /not in the future/,
    ],
    [
      'a notBefore after its expiresAt',
      [summaryTask(), summaryTask({ expiresAt: inAnHour(), notBefore: new Date(Date.now() + 7_200_000).toISOString() })],
      'body.backgroundTasks.1.notBefore',
      /could never start in time/,
    ],
    [
      'an unknown kind',
      [{ kind: 'translation', input: { text: 'hola' } }],
      'body.backgroundTasks.0.kind',
      /kind must be one of summary, extraction, classification, delegated_run/,
    ],
    ['a priority out of range', [summaryTask({ priority: 11 })], 'body.backgroundTasks.0.priority', /10/],
    ['maxAttempts above 16', [summaryTask({ maxAttempts: 17 })], 'body.backgroundTasks.0.maxAttempts', /16/],
    ['an unknown model', [summaryTask({ model: 'gpt-nope' })], 'body.backgroundTasks.0.model', /unknown model 'gpt-nope'/],
    [
      'budgetTokens above the model’s output cap',
      [summaryTask({ budgetTokens: 5_000 })],
      'body.backgroundTasks.0.budgetTokens',
      /5000 exceeds the 2048 output tokens model 'sim-small' allows/,
    ],
  ])('refuses %s with a 400 naming the field', async (_what, backgroundTasks, field, message) => {
    const response = await tasksOf(backgroundTasks);
    expect(response.statusCode).toBe(400);
    const { error } = response.json();
    expect(JSON.stringify(error)).toContain(field);
    expect(error.message).toMatch(message);
  });

  it('hides another tenant’s task (404) and keeps task actions to operators (403 for a service token)', async () => {
    const started = await startRun({ backgroundTasks: [summaryTask()] });
    const taskId = `${started.runId}-1`;
    const otherTenant = await app.inject({ method: 'GET', url: `/v1/tasks/${taskId}`, headers: bearer(testTokens.globexAdmin) });
    expect(otherTenant.statusCode).toBe(404);
    expect(otherTenant.json().error.message).toBe(`task ${taskId} not found`);
    const service = await app.inject({
      method: 'POST',
      url: `/v1/tasks/${taskId}/cancel`,
      headers: bearer(testTokens.acmeService),
      payload: {},
    });
    expect(service.statusCode).toBe(403);
    const unknown = await app.inject({
      method: 'GET',
      url: `/v1/tasks/${started.runId}-9`,
      headers: bearer(testTokens.operator),
    });
    expect(unknown.statusCode).toBe(404);
    const malformed = await app.inject({ method: 'GET', url: '/v1/tasks/not-a-task', headers: bearer(testTokens.operator) });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error.message).toMatch(/taskId must be <runId>-<n>/);
    // Let the run finish so nothing is left behind.
    const run = await waitForRunEnd(app, started.runId);
    expect(run.backgroundTasks[0].state).toBe('succeeded');
    await expectAllClosed([taskId]);
  });
});
