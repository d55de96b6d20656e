import { setTimeout as delay } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import type { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { PalyraConfig, PalyraConfigInput } from '../../src/config';
import { isTerminalRunState } from '../../src/domain/run-state';
import { costMicroUsd } from '../../src/domain/pricing';
import type { FailedAttempt, LedgerRepository } from '../../src/ledger';
import { runWorkflowId } from '../../src/temporal/contracts';
import { bearer, buildTestApp, testTokens } from '../support/app';
import { simPriceyModel, simStandardModel } from '../support/models';
import { ledgerDialects, openTestLedger, type TestLedger } from '../support/ledger';
import { expectBooksClosed, postRun } from '../support/runs';
import { connectTestClient, withTestWorker } from '../support/temporal';

/**
 * What a run pays when its provider attempts fail, through `POST /v1/runs` on the dev server: a
 * last attempt that timed out after streaming is charged, and a retry the budget cannot cover is
 * not made. Each test fails on the code before `exact-money-1`.
 */
let client: Client;
let connection: Connection;
beforeAll(async () => {
  ({ client, connection } = await connectTestClient());
});
afterAll(() => connection.close());

/** The type of the activity this call runs in, if any. */
function activityType(): string | undefined {
  try {
    return Context.current().info.activityType;
  } catch {
    return undefined;
  }
}

/** sim-standard: $2.50 in / $10 out per MTok. */
const simStandard = { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 };
/** sim-pricey: $1 in / $30 out per MTok, i.e. 30 µUSD per output token (the scenario). */
const simPricey = { inputMicroUsdPerMTok: 1_000_000, outputMicroUsdPerMTok: 30_000_000 };

describe.each(ledgerDialects())('what a run pays, through the API on the %s ledger', (dialect) => {
  let ledger: TestLedger;
  let app: FastifyInstance;
  let config: PalyraConfig;

  const build = async (runs: PalyraConfigInput['runs'] = {}) =>
    buildTestApp({
      client,
      connection,
      ledger: ledger.repo,
      config: {
        models: [simStandardModel, simPriceyModel],
        runs,
      },
    });

  beforeEach(async () => {
    ledger = await openTestLedger(dialect);
  });
  afterEach(async () => {
    await expectBooksClosed(ledger);
    await app?.close();
    await ledger.close();
  });

  /** `GET /v1/budgets/usage` for one policy, at the instant the run's hold was booked. */
  const usageOf = async (policyId: string, reservationId: string) => {
    const reservation = await ledger.repo.getReservation(reservationId);
    const response = await app.inject({
      method: 'GET',
      url: `/v1/budgets/usage?policyId=${policyId}&at=${encodeURIComponent(reservation!.createdAt)}`,
      headers: bearer(testTokens.operator),
    });
    expect(response.statusCode).toBe(200);
    const [window] = response.json().policies;
    return window as { spent: number; reserved: number; limit: number };
  };

  /** Polls `GET /v1/runs/:runId` until the run has ended (retries with backoff take a while). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the run document as JSON, asserted field by field
  const waitForRunEnd = async (target: FastifyInstance, runId: string, timeoutMs = 20_000): Promise<any> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await target.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: bearer(testTokens.admin) });
      const run = response.json();
      if (isTerminalRunState(run.state)) return run;
      if (Date.now() > deadline) throw new Error(`run ${runId} did not finish within ${timeoutMs} ms (${run.state})`);
      await delay(100);
    }
  };

  /** The attempt number of the provider call's last attempt, from the run's history (retries have no events). */
  const lastProviderAttempt = async (runId: string) => {
    const history = await client.workflow.getHandle(runWorkflowId(runId)).fetchHistory();
    const events = history.events ?? [];
    const scheduled = new Set(
      events
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'invokeProvider')
        .map((e) => String(e.eventId)),
    );
    return events
      .map((e) => e.activityTaskStartedEventAttributes)
      .filter((started) => started && scheduled.has(String(started.scheduledEventId)))
      .map((started) => started!.attempt)
      .at(-1);
  };

  /**
   * Runs a run whose every provider attempt streams for its 2 s start-to-close timeout (200 tokens
   * would take 10 s) and times out; Temporal makes 5 attempts (1, 2, 4, 8 s apart) and the run
   * fails. The worker's activities book into `workerLedger`. Returns the run and its recorded
   * attempts, once every recording has had time to land.
   */
  const runTimingOut = async (workerLedger: LedgerRepository) => {
    ({ app, config } = await build({ providerTimeoutMs: 2_000, heartbeatTimeoutMs: 15_000 }));
    await ledger.repo.putPolicy({
      policyId: 'acme-daily',
      scope: { kind: 'tenant', id: 'acme' },
      metric: 'cost',
      window: 'day',
      hardLimit: 5_000_000,
      action: 'block',
      enabled: true,
    });
    return withTestWorker(
      config,
      async () => {
        const started = await postRun(app, {
          principalId: 'svc-checkout',
          messages: [{ role: 'user', content: 'write a long poem about budgets' }],
          model: 'sim-standard',
          simulation: { outputTokens: 200, chunkDelayMs: 50 },
        });
        expect(started.statusCode).toBe(202);
        const { runId } = started.json();
        const run = await waitForRunEnd(app, runId, 60_000);
        expect(run).toMatchObject({ state: 'failed', error: { code: 'provider_timeout' } });
        expect(await lastProviderAttempt(runId)).toBe(5);
        // A worker may still be recording its own timed-out attempt: give it time.
        await delay(1_500);
        return { run, attempts: await ledger.repo.failedAttempts(runId) };
      },
      workerLedger,
    );
  };

  /** Every recorded attempt streamed, was charged once, and the books hold exactly their sum. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the run document as JSON
  const expectEveryAttemptCharged = async (run: any, attempts: FailedAttempt[]) => {
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3, 4, 5]);
    for (const attempt of attempts) {
      expect(attempt.outputTokens).toBeGreaterThan(0);
      expect(attempt.outputTokens).toBeLessThan(200);
    }
    expect(run.chargedAttempts).toEqual(
      attempts.map(({ attempt, inputTokens, outputTokens }) => ({
        attempt,
        inputTokens,
        outputTokens,
        failure: expect.any(String),
      })),
    );
    const total = {
      inputTokens: attempts.reduce((sum, a) => sum + a.inputTokens, 0),
      outputTokens: attempts.reduce((sum, a) => sum + a.outputTokens, 0),
    };
    expect(run.costMicroUsd).toBe(costMicroUsd(simStandard, total));
    expect(run.costMicroUsd).toBeGreaterThan(0);
    expect(await ledger.repo.getReservation(`run-${run.runId}`)).toMatchObject({
      state: 'settled',
      settledMicroUsd: run.costMicroUsd,
      settledTokens: total.inputTokens + total.outputTokens,
    });
    expect(await usageOf('acme-daily', `run-${run.runId}`)).toMatchObject({ spent: run.costMicroUsd, reserved: 0 });
  };

  it('charges every attempt that timed out after streaming, the last one included, each once', async () => {
    const { run, attempts } = await runTimingOut(ledger.repo);
    await expectEveryAttemptCharged(run, attempts);
  }, 120_000);

  it('charges a last attempt whose worker never reported it from its last heartbeat', async () => {
    // The worker is lost during the last attempt: whatever it would record of that attempt itself
    // never arrives (every other ledger call goes through).
    const lostWorkerLedger: LedgerRepository = {
      ...ledger.repo,
      async recordFailedAttempt(attempt) {
        if (activityType() === 'invokeProvider' && attempt.attempt === 5) return;
        await ledger.repo.recordFailedAttempt(attempt);
      },
    };
    const { run, attempts } = await runTimingOut(lostWorkerLedger);
    await expectEveryAttemptCharged(run, attempts);
    expect(attempts[4]!.failure).toMatch(/^the provider call timed out \(START_TO_CLOSE\) after \d+ streamed tokens$/);
  }, 120_000);

  it('stops retrying when the budget cannot cover another attempt: failed budget_exceeded, within the hard limit', async () => {
    ({ app, config } = await build());
    const hardLimit = 20_000;
    await ledger.repo.putPolicy({
      policyId: 'svc-batch-daily',
      scope: { kind: 'principal', id: 'acme/svc-batch' },
      metric: 'cost',
      window: 'day',
      hardLimit,
      action: 'block',
      enabled: true,
    });
    await withTestWorker(
      config,
      async () => {
        // 400 output tokens at 30 µUSD: 12,000 µUSD a try; the stream is cut half way on attempts
        // 1–3. Before, the retries ran on past the limit (the window ended near 36,930 of 20,000).
        const started = await postRun(app, {
          principalId: 'svc-batch',
          messages: [{ role: 'user', content: 'extract every invoice line' }],
          model: 'sim-pricey',
          maxOutputTokens: 400,
          simulation: { outputTokens: 400, chunkDelayMs: 0, failAttempts: 3, failure: 'stream_cut' },
        });
        expect(started.statusCode).toBe(202);
        const { runId, admission } = started.json();
        expect(admission).toMatchObject({ status: 'admitted', clamped: false, maxOutputTokens: 400 });
        const run = await waitForRunEnd(app, runId);

        const window = await usageOf('svc-batch-daily', `run-${runId}`);
        expect(window.spent + window.reserved).toBeLessThanOrEqual(hardLimit);
        expect(run).toMatchObject({
          state: 'failed',
          error: { code: 'budget_exceeded', message: expect.stringContaining("budget policy 'svc-batch-daily'") },
        });
        // Two cut attempts streamed 200 tokens each and are paid; the third was never made.
        expect(await lastProviderAttempt(runId)).toBe(3);
        const attempts = await ledger.repo.failedAttempts(runId);
        expect(attempts.map((a) => [a.attempt, a.outputTokens])).toEqual([
          [1, 200],
          [2, 200],
        ]);
        const owed = costMicroUsd(simPricey, {
          inputTokens: attempts.reduce((sum, a) => sum + a.inputTokens, 0),
          outputTokens: 400,
        });
        expect(run.costMicroUsd).toBe(owed);
        expect(window).toMatchObject({ spent: owed, reserved: 0, limit: hardLimit });
        expect(await ledger.repo.getReservation(`run-${runId}`)).toMatchObject({ state: 'settled', settledMicroUsd: owed });
      },
      ledger.repo,
    );
  });
});
