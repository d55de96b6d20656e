import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { PalyraConfig } from '../../src/config';
import { costMicroUsd } from '../../src/domain/pricing';
import type { BudgetPolicy } from '../../src/domain/budget';
import type { WindowReport } from '../../src/ledger';
import {
  runApprovalUpdate,
  runStateQuery,
  runWorkflowId,
  runWorkflowType,
  type RunDocument,
  type RunWorkflowInput,
} from '../../src/temporal/contracts';
import { openTestLedger, type TestLedger } from '../support/ledger';
import { expectBooksClosed } from '../support/runs';
import { testConfig } from '../support/temporal';
import { simPriceyModel } from '../support/models';
import { openTimeSkippingEnvironment, withTimeSkippingWorker } from '../support/time-skipping';

/**
 * What a run pays, on the time-skipping server: a hold booked hours after the run started (a late
 * approval) lives from when it is booked, and a retry that the budget can no longer cover is not
 * made. Each test fails on the workflow code before `exact-money-1`.
 */
let env: TestWorkflowEnvironment;
let ledger: TestLedger;
let config: PalyraConfig;

/** 30 µUSD per output token, 1 µUSD per input token (the scenario). */
const pricey = { inputMicroUsdPerMTok: 1_000_000, outputMicroUsdPerMTok: 30_000_000 };
const simSmall = { inputMicroUsdPerMTok: 150_000, outputMicroUsdPerMTok: 600_000 };

beforeAll(async () => {
  env = await openTimeSkippingEnvironment();
  config = testConfig({
    models: [
      {
        id: 'sim-small',
        provider: 'simulated',
        tier: 'low',
        contextWindow: 16_000,
        maxOutputTokens: 2_048,
        pricing: { inputPerMTokUsd: 0.15, outputPerMTokUsd: 0.6 },
      },
      simPriceyModel,
    ],
    routing: { defaultModel: 'sim-small' },
  });
});
afterAll(() => env?.teardown());
beforeEach(async () => {
  ledger = await openTestLedger('sqlite');
});
afterEach(async () => {
  jest.useRealTimers();
  await expectBooksClosed(ledger);
  await ledger.close();
});

/** Every timer API stays real when only Date follows the time-skipping server's clock. */
const realTimers: Extract<Parameters<typeof jest.useFakeTimers>[0], { doNotFake?: unknown }>['doNotFake'] = [
  'hrtime',
  'nextTick',
  'performance',
  'queueMicrotask',
  'requestAnimationFrame',
  'cancelAnimationFrame',
  'requestIdleCallback',
  'cancelIdleCallback',
  'setImmediate',
  'clearImmediate',
  'setInterval',
  'clearInterval',
  'setTimeout',
  'clearTimeout',
];

const minutes = (n: number) => n * 60_000;
const hours = (n: number) => n * 3_600_000;

function runInput(overrides: Partial<RunWorkflowInput> = {}): RunWorkflowInput {
  return {
    runId: randomUUID(),
    tenantId: 'acme',
    principalId: 'svc-money',
    createdAt: new Date().toISOString(),
    messages: [{ role: 'user', content: 'summarise the quarterly report' }],
    model: { requested: 'sim-small', selected: 'sim-small', providerId: 'simulated' },
    maxOutputTokens: 256,
    requestedMaxOutputTokens: 256,
    taskClass: 'primary_interactive',
    simulation: { outputTokens: 12, chunkDelayMs: 5 },
    timing: { heartbeatTimeoutMs: 15_000, providerTimeoutMs: minutes(10), approvalTimeoutMs: minutes(60) },
    ...overrides,
  };
}

function policy(overrides: Partial<BudgetPolicy> & Pick<BudgetPolicy, 'policyId' | 'hardLimit' | 'action'>): BudgetPolicy {
  return { scope: { kind: 'tenant', id: 'acme' }, metric: 'cost', window: 'day', enabled: true, ...overrides } as BudgetPolicy;
}

/** The windows a reservation was booked into, read at its booking time (a window is a UTC day). */
async function windowsOfReservation(reservationId: string): Promise<WindowReport[]> {
  const reservation = await ledger.repo.getReservation(reservationId);
  if (!reservation) throw new Error(`no reservation ${reservationId}`);
  return ledger.repo.usageReport(new Date(reservation.createdAt));
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await delay(25);
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** The run document: the workflow's result, or what its failure carries when the run failed. */
async function runDocument(result: Promise<unknown>): Promise<RunDocument> {
  try {
    return (await result) as RunDocument;
  } catch (failure) {
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('RunFailed');
    return (cause as ApplicationFailure).details?.[0] as RunDocument;
  }
}

describe('what a run pays (time-skipping server)', () => {
  it('books the hold of a run approved two hours late from the approval: the sweeper leaves it and the run pays', async () => {
    // Not even the prompt fits: the run is parked, never clamped.
    await ledger.repo.putPolicy(policy({ policyId: 'acme-needs-approval', hardLimit: 0, action: 'approval_required' }));
    // The hold's time to live is 5 × 5 s + 5 min: an approval two hours later must not book it expired.
    const input = runInput({
      createdAt: new Date(await env.currentTimeMs()).toISOString(),
      simulation: { outputTokens: 60, chunkDelayMs: 50 },
      timing: { heartbeatTimeoutMs: 15_000, providerTimeoutMs: 5_000, approvalTimeoutMs: hours(24) },
    });
    const approvedId = `run-${input.runId}:approved`;

    await withTimeSkippingWorker(env, config, ledger.repo, async () => {
      const handle = await env.client.workflow.start(runWorkflowType, {
        workflowId: runWorkflowId(input.runId),
        taskQueue: config.temporal.taskQueue,
        args: [input],
      });
      await until('the run awaits approval', async () => (await handle.query(runStateQuery)).state === 'awaiting_approval');
      expect(await ledger.repo.getReservation(`run-${input.runId}`)).toMatchObject({ state: 'refused' });

      // Two hours pass on the server with nobody deciding.
      const parkedAt = await env.currentTimeMs();
      await env.sleep(hours(2));
      const approvedAt = await env.currentTimeMs();
      expect(approvedAt - parkedAt).toBeGreaterThanOrEqual(hours(2));
      // The activities, the ledger and the sweeper read the process clock: from here on it shows the
      // server's time, as the wall clock of a deployment would after two hours (only Date is faked;
      // timers stay real, so the worker and the stream keep their pace).
      jest.useFakeTimers({ now: approvedAt, advanceTimers: true, doNotFake: realTimers });
      const sweep = async () => ledger.repo.expireDue(new Date());
      expect(await sweep()).toEqual([]); // nothing is held while the run waits

      await handle.executeUpdate(runApprovalUpdate, { args: [{ decision: 'approve', decidedBy: 'operator', note: 'late' }] });
      // The approved hold is booked; the sweeper keeps running while the run streams.
      await until('the approved hold is booked', async () => (await ledger.repo.getReservation(approvedId)) !== undefined);
      const booked = await ledger.repo.getReservation(approvedId);
      const expired: string[] = [];
      let state = (await handle.query(runStateQuery)).state;
      while (state === 'running' || state === 'awaiting_approval') {
        expired.push(...(await sweep()));
        await delay(100);
        state = (await handle.query(runStateQuery)).state;
      }
      // The hold lived from the approval on (5 min 25 s), so the sweeper never took it back.
      expect(expired).toEqual([]);
      expect(Date.parse(booked!.expiresAt)).toBeGreaterThan(approvedAt);

      const run = (await handle.result()) as RunDocument;
      expect(run).toMatchObject({
        state: 'succeeded',
        usage: { outputTokens: 60, estimated: false },
        admission: { status: 'admitted', reservationId: approvedId },
      });
      expect(run.costMicroUsd).toBe(costMicroUsd(simSmall, run.usage!));
      expect(run.costMicroUsd).toBeGreaterThan(0);

      const reservation = await ledger.repo.getReservation(approvedId);
      expect(reservation).toMatchObject({ state: 'settled', settledMicroUsd: run.costMicroUsd });
      // Settled within its live hold: no overage, certainly not `settled_after_expiry`.
      const overages = await ledger.connection.db
        .selectFrom('overages')
        .select('reason')
        .where('reservation_id', '=', approvedId)
        .execute();
      expect(overages).toEqual([]);
      const [window] = (await windowsOfReservation(approvedId)).filter((w) => w.policyId === 'acme-needs-approval');
      expect(window).toMatchObject({ spent: run.costMicroUsd, reserved: 0 });
    });
  });

  it('books what a run consumed when its settle comes after the sweeper expired its hold (settled_after_expiry)', async () => {
    await ledger.repo.putPolicy(policy({ policyId: 'acme-daily', hardLimit: 5_000_000, action: 'block' }));
    const input = runInput({
      simulation: { outputTokens: 60, chunkDelayMs: 50 },
      timing: { heartbeatTimeoutMs: 15_000, providerTimeoutMs: 5_000, approvalTimeoutMs: minutes(60) },
    });
    const reservationId = `run-${input.runId}`;

    const run = await withTimeSkippingWorker(env, config, ledger.repo, async () => {
      const handle = await env.client.workflow.start(runWorkflowType, {
        workflowId: runWorkflowId(input.runId),
        taskQueue: config.temporal.taskQueue,
        args: [input],
      });
      await until('the run streams', async () => (await handle.query(runStateQuery)).state === 'running');
      const held = await ledger.repo.getReservation(reservationId);
      expect(held).toMatchObject({ state: 'pending' });
      // A sweep just past the hold's expiry (as if no worker had run the run for longer than its
      // lease) takes the hold back while the stream is still going.
      expect(await ledger.repo.expireDue(new Date(Date.parse(held!.expiresAt) + 1))).toEqual([reservationId]);
      expect(await ledger.repo.getReservation(reservationId)).toMatchObject({ state: 'expired' });
      return (await handle.result()) as RunDocument;
    });

    expect(run).toMatchObject({ state: 'succeeded', usage: { outputTokens: 60, estimated: false } });
    expect(run.costMicroUsd).toBe(costMicroUsd(simSmall, run.usage!));
    expect(run.costMicroUsd).toBeGreaterThan(0);
    expect(await ledger.repo.getReservation(reservationId)).toMatchObject({
      state: 'settled',
      settledMicroUsd: run.costMicroUsd,
    });
    // All of it is spend beyond a live hold, said so by the overage.
    const overages = await ledger.connection.db
      .selectFrom('overages')
      .select(['reason', 'excess_micro_usd'])
      .where('reservation_id', '=', reservationId)
      .execute();
    expect(overages).toEqual([{ reason: 'settled_after_expiry', excess_micro_usd: run.costMicroUsd }]);
    const [window] = (await windowsOfReservation(reservationId)).filter((w) => w.policyId === 'acme-daily');
    expect(window).toMatchObject({ spent: run.costMicroUsd, reserved: 0 });
  });

  it('does not make a retry the budget cannot cover: the run fails budget_exceeded, having paid what it streamed', async () => {
    const hardLimit = 20_000;
    await ledger.repo.putPolicy(
      policy({ policyId: 'svc-batch-daily', scope: { kind: 'principal', id: 'acme/svc-batch' }, hardLimit, action: 'block' }),
    );
    // 400 output tokens at 30 µUSD: 12,000 µUSD a try. The stream is cut half way (200 tokens,
    // 6,000 µUSD billed) on attempts 1–3; the third attempt would need 24,000 µUSD held.
    const input = runInput({
      principalId: 'svc-batch',
      model: { requested: 'sim-pricey', selected: 'sim-pricey', providerId: 'simulated' },
      maxOutputTokens: 400,
      requestedMaxOutputTokens: 400,
      simulation: { outputTokens: 400, chunkDelayMs: 0, failAttempts: 3, failure: 'stream_cut' },
    });

    const run = await withTimeSkippingWorker(env, config, ledger.repo, () =>
      runDocument(
        env.client.workflow.execute(runWorkflowType, {
          workflowId: runWorkflowId(input.runId),
          taskQueue: config.temporal.taskQueue,
          args: [input],
        }),
      ),
    );

    const reservationId = `run-${input.runId}`;
    const [window] = (await windowsOfReservation(reservationId)).filter((w) => w.policyId === 'svc-batch-daily');
    expect(window!.spent + window!.reserved).toBeLessThanOrEqual(hardLimit);
    expect(run.state).toBe('failed');
    expect(run.error).toEqual({ code: 'budget_exceeded', message: expect.stringContaining("budget policy 'svc-batch-daily'") });
    expect(run.error!.message).toMatch(/^attempt 3 not made/);
    // Attempts 1 and 2 streamed 200 tokens each and are charged once; attempt 3 was never made.
    const attempts = await ledger.repo.failedAttempts(input.runId);
    expect(attempts.map((a) => ({ attempt: a.attempt, outputTokens: a.outputTokens }))).toEqual([
      { attempt: 1, outputTokens: 200 },
      { attempt: 2, outputTokens: 200 },
    ]);
    expect(run.chargedAttempts?.map((a) => a.attempt)).toEqual([1, 2]);
    const owed = costMicroUsd(pricey, {
      inputTokens: attempts.reduce((sum, a) => sum + a.inputTokens, 0),
      outputTokens: 400,
    });
    expect(run.costMicroUsd).toBe(owed);
    expect(run.costMicroUsd).toBeGreaterThan(0);

    expect(await ledger.repo.getReservation(reservationId)).toMatchObject({ state: 'settled', settledMicroUsd: owed });
    expect(window).toMatchObject({ spent: owed, reserved: 0 });
  });
});
