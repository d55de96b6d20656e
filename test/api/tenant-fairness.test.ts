import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { tenantFairnessKey } from '../../src/api/runs/service';
import { backgroundTaskWorkflowId, runWorkflowId } from '../../src/temporal/contracts';
import { openTestStack, testTokens, type TestStack } from '../support/app';
import { postRun, waitForRunEnd } from '../support/runs';
import { startRunWithTasks, summaryTask, waitForTask } from '../support/tasks';
import { composeTestServices, testTemporalAddress, workflowBundle } from '../support/temporal';

/**
 * Runs carry their tenant as Temporal fairness key (the jest dev server runs with fairness on, as
 * `palyra dev` does), so a tenant's backlog on the shared task queue does not hold up another's run.
 * A worker of two activity slots makes the backlog: each run streams in one activity.
 */
const activitySlots = 2;
const floodRuns = 12;
/** About 1 s of streaming per flood run: 6 s of backlog over two slots. */
const floodSimulation = { outputTokens: 40, chunkDelayMs: 25 };

let stack: TestStack;
let client: Client;
let worker: Worker;
let running: Promise<void>;
let closeWorker: () => Promise<void>;

beforeAll(async () => {
  stack = await openTestStack();
  client = stack.client;
  const { createPalyraWorker } = await import('../../src/temporal/worker');
  const created = await createPalyraWorker({
    address: testTemporalAddress(),
    namespace: 'default',
    taskQueue: stack.config.temporal.taskQueue,
    activities: (await composeTestServices(stack.config, stack.ledger.repo)).activities,
    workflowBundle: await workflowBundle(),
    maxConcurrentActivityTaskExecutions: activitySlots,
  });
  worker = created.worker;
  running = worker.run();
  closeWorker = () => created.connection.close();
});
afterAll(async () => {
  if (worker.getState() === 'RUNNING') worker.shutdown();
  await running;
  await closeWorker();
  await stack.close();
});

const rawDescription = (workflowId: string) =>
  client.workflow
    .getHandle(workflowId)
    .describe()
    .then((description) => description.raw);

describe('tenant fairness', () => {
  it('starts a run with its tenant as fairness key, which its activity and task children inherit', async () => {
    const started = await startRunWithTasks(stack.app, {
      simulation: { outputTokens: 30, chunkDelayMs: 50 },
      backgroundTasks: [summaryTask({}, { outputTokens: 30, chunkDelayMs: 50 })],
    });
    const workflowId = runWorkflowId(started.runId);
    expect((await rawDescription(workflowId)).workflowExecutionInfo?.priority?.fairnessKey).toBe('acme');

    let pending: NonNullable<Awaited<ReturnType<typeof rawDescription>>['pendingActivities']> = [];
    for (let i = 0; i < 100 && pending.length === 0; i++) {
      pending = (await rawDescription(workflowId)).pendingActivities ?? [];
      if (pending.length === 0) await delay(50);
    }
    expect(pending.map((activity) => activity.activityType?.name)).toEqual(['invokeProvider']);
    // The server shows an activity's own Priority only: none, so it runs with the workflow's (the
    // last case shows that it does: the stream is the activity a quiet tenant's run jumps the queue with).
    expect(pending[0]?.priority?.fairnessKey ?? '').toBe('');

    const taskId = started.backgroundTasks[0].taskId as string;
    await waitForTask(stack.app, taskId, (task) => task.state !== 'queued', 'a started child');
    const child = await rawDescription(backgroundTaskWorkflowId(taskId));
    expect(child.workflowExecutionInfo?.priority?.fairnessKey).toBe('acme');
    expect((await waitForRunEnd(stack.app, started.runId)).state).toBe('succeeded');
  });

  it('bounds the fairness key of a long tenant id to Temporal’s 64 bytes, keeping long ids apart', () => {
    const long = `tenant-${'x'.repeat(100)}`;
    expect(tenantFairnessKey('acme')).toBe('acme');
    expect(Buffer.byteLength(tenantFairnessKey(long))).toBe(64);
    expect(tenantFairnessKey(`${long}-a`)).not.toBe(tenantFairnessKey(`${long}-b`));
    expect(tenantFairnessKey('a'.repeat(64))).toBe('a'.repeat(64));
  });

  it('runs a quiet tenant’s run while a busy tenant’s backlog is still queued', async () => {
    const finishedAt = new Map<string, number>();
    const follow = (runId: string) =>
      client.workflow
        .getHandle(runWorkflowId(runId))
        .result()
        .finally(() => finishedAt.set(runId, Date.now()));

    const flood = await Promise.all(
      Array.from({ length: floodRuns }, async () => {
        const response = await postRun(stack.app, {
          principalId: 'svc-batch',
          messages: [{ role: 'user', content: 'summarise the archive' }],
          model: 'sim-standard',
          simulation: floodSimulation,
        });
        expect(response.statusCode).toBe(202);
        return response.json().runId as string;
      }),
    );
    const floodDone = flood.map(follow);

    const quiet = await postRun(
      stack.app,
      {
        tenantId: 'globex',
        principalId: 'svc-chat',
        messages: [{ role: 'user', content: 'hi' }],
        model: 'sim-standard',
        simulation: { outputTokens: 1, chunkDelayMs: 0 },
      },
      testTokens.globexService,
    );
    expect(quiet.statusCode).toBe(202);
    const quietRunId = quiet.json().runId as string;
    await follow(quietRunId);
    const quietFinishedAt = finishedAt.get(quietRunId) as number;
    const floodFinishedBefore = flood.filter((runId) => (finishedAt.get(runId) ?? Infinity) <= quietFinishedAt).length;

    await Promise.all(floodDone);
    // First in, first out, the quiet run would wait for the whole backlog (about 6 s over two
    // slots: 11 or 12 of the flood's runs end first); dispatched fairly, it takes the next free slot.
    expect(floodFinishedBefore).toBeLessThanOrEqual(floodRuns / 2);
    expect((await waitForRunEnd(stack.app, quietRunId)).state).toBe('succeeded');
  }, 60_000);
});
