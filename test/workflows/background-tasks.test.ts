import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { PalyraConfig } from '../../src/config';
import {
  backgroundTaskWorkflowId,
  runWorkflowId,
  runWorkflowType,
  taskAttemptBookingId,
  type BackgroundTaskSpec,
  type RunDocument,
  type RunWorkflowInput,
} from '../../src/temporal/contracts';
import { openTestLedger, type TestLedger } from '../support/ledger';
import { expectBooksClosed } from '../support/runs';
import { testConfig } from '../support/temporal';
import { openTimeSkippingEnvironment, withTimeSkippingWorker } from '../support/time-skipping';

/**
 * Timers of background tasks on the time-skipping server: notBefore, expiry before and during a
 * task, child timeouts and retry backoff take hours of workflow time and a few seconds of test.
 */
let env: TestWorkflowEnvironment;
let ledger: TestLedger;
let config: PalyraConfig;
beforeAll(async () => {
  env = await openTimeSkippingEnvironment();
  config = testConfig();
});
afterAll(() => env?.teardown());
beforeEach(async () => {
  ledger = await openTestLedger('sqlite');
});
afterEach(async () => {
  await expectBooksClosed(ledger);
  await ledger.close();
});

const minutes = (n: number) => n * 60_000;
const fast = { outputTokens: 3, chunkDelayMs: 5 };
const slow = { outputTokens: 200, chunkDelayMs: 50 };

function task(overrides: Partial<BackgroundTaskSpec> = {}): BackgroundTaskSpec {
  return {
    kind: 'summary',
    input: { text: 'Revenue grew while costs fell.' },
    priority: 0,
    maxAttempts: 3,
    model: { requested: 'sim-small', selected: 'sim-small', providerId: 'simulated' },
    maxOutputTokens: 2_048,
    simulation: fast,
    ...overrides,
  } as BackgroundTaskSpec;
}

/** Runs a run with these tasks to its end on the time-skipping server; returns its document. */
async function runWithTasks(
  backgroundTasks: BackgroundTaskSpec[],
  policy: Partial<NonNullable<RunWorkflowInput['taskPolicy']>> = {},
): Promise<RunDocument> {
  const runId = randomUUID();
  const input: RunWorkflowInput = {
    runId,
    tenantId: 'acme',
    principalId: 'svc-notes',
    createdAt: new Date(await now()).toISOString(),
    messages: [{ role: 'user', content: 'take notes' }],
    model: { requested: 'sim-small', selected: 'sim-small', providerId: 'simulated' },
    maxOutputTokens: 2_048,
    taskClass: 'primary_interactive',
    simulation: fast,
    timing: { heartbeatTimeoutMs: 15_000, providerTimeoutMs: minutes(10), approvalTimeoutMs: minutes(60) },
    backgroundTasks,
    taskPolicy: {
      maxConcurrentChildren: 4,
      maxTasks: 50,
      detached: false,
      retry: { initialIntervalMs: minutes(20), maximumIntervalMs: minutes(60) },
      retryGraceMs: 0,
      ...policy,
    },
  };
  return withTimeSkippingWorker(env, config, ledger.repo, () =>
    env.client.workflow.execute(runWorkflowType, {
      workflowId: runWorkflowId(runId),
      taskQueue: config.temporal.taskQueue,
      args: [input],
    }),
  ) as Promise<RunDocument>;
}

/** The server's clock (it jumps ahead when time is skipped). */
function now(): Promise<number> {
  return env.currentTimeMs();
}

async function expectChildrenClosed(run: RunDocument): Promise<void> {
  for (const t of run.backgroundTasks.filter((t) => t.dispatches > 0)) {
    const description = await env.client.workflow.getHandle(backgroundTaskWorkflowId(t.taskId)).describe();
    expect(description.status.name).not.toBe('RUNNING');
  }
}

describe('background task timers (time-skipping server)', () => {
  it('does not start a task before its notBefore', async () => {
    const notBefore = new Date((await now()) + minutes(120)).toISOString();
    const run = await runWithTasks([task({ notBefore })]);
    const [delayed] = run.backgroundTasks;
    expect(delayed).toMatchObject({ state: 'succeeded', attempt: 1 });
    expect(Date.parse(delayed!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(notBefore));
    await expectChildrenClosed(run);
  });

  it('expires a task that could not start by its expiresAt and never dispatches it; retries back off', async () => {
    const start = await now();
    const run = await runWithTasks(
      [
        // Holds the only slot through two failures and backoffs of 20 and 40 minutes.
        task({ priority: 5, simulation: { ...fast, failAttempts: 2, failure: 'http_500' } }),
        task({ priority: 0, expiresAt: new Date(start + minutes(30)).toISOString() }),
      ],
      { maxConcurrentChildren: 1 },
    );
    const [flaky, late] = run.backgroundTasks;
    expect(flaky).toMatchObject({ state: 'succeeded', attempt: 3 });
    expect(Date.parse(flaky!.finishedAt!) - Date.parse(flaky!.startedAt!)).toBeGreaterThanOrEqual(minutes(60));
    expect(late).toMatchObject({ state: 'expired', dispatches: 0, costMicroUsd: 0, error: { code: 'task_expired' } });
    expect(await ledger.repo.getReservation(taskAttemptBookingId(late!.taskId, 1, 1))).toBeUndefined();
    await expectChildrenClosed(run);
  });

  it('stops a task still running at its expiresAt: the stream ends and the rest of its hold is released', async () => {
    const run = await runWithTasks([task({ expiresAt: new Date((await now()) + 3_000).toISOString(), simulation: slow })]);
    const [expired] = run.backgroundTasks;
    expect(expired).toMatchObject({ state: 'expired', error: { code: 'task_expired' } });
    const booking = await ledger.repo.getReservation(taskAttemptBookingId(expired!.taskId, 1, 1));
    expect(booking?.state).toBe('settled');
    expect(expired!.costMicroUsd).toBe(booking!.settledMicroUsd);
    expect(expired!.costMicroUsd).toBeGreaterThan(0);
    // Stopped part-way: far fewer tokens than the stream would have produced.
    expect(booking!.settledTokens).toBeLessThan(slow.outputTokens);
    await expectChildrenClosed(run);
  });

  it('fails a task that runs past its timeoutMs with child_timeout, settling what it used', async () => {
    const run = await runWithTasks([task({ timeoutMs: 2_000, simulation: slow })]);
    const [timedOut] = run.backgroundTasks;
    expect(timedOut).toMatchObject({ state: 'failed', error: { code: 'child_timeout' } });
    const booking = await ledger.repo.getReservation(taskAttemptBookingId(timedOut!.taskId, 1, 1));
    expect(booking?.state).toBe('settled');
    expect(timedOut!.costMicroUsd).toBe(booking!.settledMicroUsd);
    await expectChildrenClosed(run);
  });

  it('ends a task failed with the last error once maxAttempts are spent, each attempt released', async () => {
    const run = await runWithTasks([task({ maxAttempts: 3, simulation: { ...fast, failAttempts: 10, failure: 'http_500' } })]);
    const [failed] = run.backgroundTasks;
    expect(failed).toMatchObject({ state: 'failed', attempt: 3, costMicroUsd: 0, error: { code: 'provider_unavailable' } });
    for (const attempt of [1, 2, 3]) {
      expect((await ledger.repo.getReservation(taskAttemptBookingId(failed!.taskId, 1, attempt)))?.state).toBe('released');
    }
    expect(await ledger.repo.getReservation(taskAttemptBookingId(failed!.taskId, 1, 4))).toBeUndefined();
    await expectChildrenClosed(run);
  });
});
