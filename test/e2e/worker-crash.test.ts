import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { FastifyInstance } from 'fastify';
import { costMicroUsd } from '../../src/domain/pricing';
import { simulatedText } from '../../src/domain/simulated-stream';
import { checkLedgerInvariants, createLedgerRepository, type LedgerConnection } from '../../src/ledger';
import { runStateQuery, runWorkflowId, type ProviderHeartbeat, type RunDocument } from '../../src/temporal/contracts';
import { bearer, buildTestApp, testTokens } from '../support/app';
import { createTestLedgerStore, ledgerDialects, type TestLedgerStore } from '../support/ledger';
import { cliEnv, descendantsOf, isAlive, killLeftoverProcesses, runCli, type CliProcess } from '../support/processes';
import { postRun, windowsOfRun } from '../support/runs';
import { connectTestClient, testTemporalAddress } from '../support/temporal';

/** sim-standard in the default config: $2.50 in / $10 out per MTok. */
const simStandard = { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 };
const heartbeatTimeoutMs = 2_000;
/** 3 s of streaming per attempt: long enough to kill the worker in the middle of it. */
const simulation = { outputTokens: 60, chunkDelayMs: 50 };

let client: Client;
let temporalConnection: Connection;
beforeAll(async () => {
  ({ client, connection: temporalConnection } = await connectTestClient());
});
afterAll(() => temporalConnection.close());

/** `palyra worker` as its own process, polling the test's task queue and booking into the test's ledger. */
async function startWorkerProcess(env: NodeJS.ProcessEnv): Promise<CliProcess> {
  const worker = runCli(['worker'], env);
  await worker.waitForOutput(/"msg":"worker polling"/, 60_000);
  return worker;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await delay(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** The provider call while it runs: the worker running it and the tokens its last heartbeat reported. */
async function pendingProviderCall(runId: string) {
  const { raw } = await client.workflow.getHandle(runWorkflowId(runId)).describe();
  const pending = raw.pendingActivities?.find((activity) => activity.activityType?.name === 'invokeProvider');
  const details = pending?.heartbeatDetails?.payloads?.[0];
  if (!pending || !details) return undefined;
  return {
    workerIdentity: pending.lastWorkerIdentity,
    tokensSoFar: defaultPayloadConverter.fromPayload<ProviderHeartbeat>(details).tokensSoFar,
  };
}

async function providerCallStarts(runId: string) {
  const events = (await client.workflow.getHandle(runWorkflowId(runId)).fetchHistory()).events ?? [];
  const scheduled = new Set(
    events
      .filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'invokeProvider')
      .map((event) => String(event.eventId)),
  );
  return events
    .map((event) => event.activityTaskStartedEventAttributes)
    .filter((started) => started != null && scheduled.has(String(started.scheduledEventId)));
}

async function expectGoneWithEverythingItStarted(pid: number, descendants: number[]): Promise<void> {
  for (let i = 0; i < 50 && [pid, ...descendants].some(isAlive); i++) await delay(100);
  expect([pid, ...descendants].filter(isAlive)).toEqual([]);
}

describe.each(ledgerDialects())('a worker killed with SIGKILL mid-stream, on the %s ledger', (dialect) => {
  let store: TestLedgerStore;
  let ledger: LedgerConnection;
  let app: FastifyInstance;
  let dataDir: string;

  afterEach(async () => {
    // A failed test must not leave a worker polling (or holding the ledger) behind.
    killLeftoverProcesses();
    await app?.close();
    await ledger?.close();
    await store?.drop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('is replaced by another worker that streams the run again and settles it exactly once', async () => {
    store = await createTestLedgerStore(dialect);
    ledger = store.connect(2);
    const repo = createLedgerRepository({ connection: ledger });
    for (const [policyId, scope] of [
      ['crash-tenant-daily', { kind: 'tenant', id: 'acme' }],
      ['crash-principal-daily', { kind: 'principal', id: 'acme/svc-crash' }],
    ] as const) {
      await repo.putPolicy({
        policyId,
        scope,
        metric: 'cost',
        window: 'day',
        hardLimit: 5_000_000,
        action: 'block',
        enabled: true,
      });
    }
    const built = await buildTestApp({
      client,
      connection: temporalConnection,
      ledger: repo,
      config: { runs: { heartbeatTimeoutMs } },
    });
    app = built.app;
    const { config } = built;

    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-worker-crash-'));
    const configFile = path.join(dataDir, 'palyra.config.yaml');
    fs.writeFileSync(configFile, `runs:\n  heartbeatTimeoutMs: ${heartbeatTimeoutMs}\n`);
    const env = cliEnv({
      PALYRA_CONFIG: configFile,
      PALYRA_LOG_LEVEL: 'info',
      TEMPORAL_ADDRESS: testTemporalAddress(),
      PALYRA_TASK_QUEUE: config.temporal.taskQueue,
      // Both workers book into the test's store: SQLite is `<dataDir>/ledger.db`, PostgreSQL a URL.
      ...(dialect === 'sqlite' ? { PALYRA_DATA_DIR: path.dirname(store.location) } : { PALYRA_DATA_DIR: dataDir }),
      ...(dialect === 'postgres' ? { DATABASE_URL: store.location } : {}),
    });

    const workerA = await startWorkerProcess(env);
    const pidA = workerA.child.pid as number;
    const started = await postRun(app, {
      principalId: 'svc-crash',
      messages: [{ role: 'user', content: 'write a haiku about durable execution' }],
      model: 'sim-standard',
      maxOutputTokens: 100,
      simulation,
    });
    expect(started.statusCode).toBe(202);
    const { runId, admission } = started.json();
    expect(admission).toMatchObject({ status: 'admitted', reservationId: `run-${runId}` });

    const handle = client.workflow.getHandle(runWorkflowId(runId));
    await waitFor(
      'the run to be running',
      async () => ((await handle.query(runStateQuery)).state === 'running' ? true : undefined),
      20_000,
    );
    const streaming = await waitFor(
      'worker A to have streamed some tokens',
      async () => {
        const call = await pendingProviderCall(runId);
        return call && call.tokensSoFar >= 5 ? call : undefined;
      },
      20_000,
    );
    expect(streaming.workerIdentity).toBe(`palyra-worker@${pidA}`);
    expect(streaming.tokensSoFar).toBeLessThan(simulation.outputTokens);

    const descendantsA = descendantsOf(pidA);
    workerA.child.kill('SIGKILL');
    expect(await workerA.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await expectGoneWithEverythingItStarted(pidA, descendantsA);

    const workerB = await startWorkerProcess(env);
    const pidB = workerB.child.pid as number;
    const run = await waitFor(
      'the run to finish on worker B',
      async () => {
        const response = await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: bearer(testTokens.admin) });
        const document = response.json() as RunDocument;
        return ['succeeded', 'failed', 'cancelled', 'denied'].includes(document.state) ? document : undefined;
      },
      60_000,
    );

    // The whole answer, streamed again from the start by worker B. The run pays for its usage and for
    // what the killed attempt had streamed (its last heartbeat says how much: the provider billed it).
    expect(run.state).toBe('succeeded');
    expect(run.output).toBe(simulatedText(runId, simulation.outputTokens));
    expect(run.usage).toMatchObject({ outputTokens: simulation.outputTokens, estimated: false });
    const usage = run.usage as NonNullable<RunDocument['usage']>;
    expect(run.chargedAttempts).toEqual([
      {
        attempt: 1,
        inputTokens: expect.any(Number),
        outputTokens: expect.any(Number),
        failure: expect.stringContaining('worker lost'),
      },
    ]);
    const [crashed] = run.chargedAttempts ?? [];
    expect(crashed?.outputTokens).toBeGreaterThanOrEqual(5);
    expect(run.costMicroUsd).toBe(
      costMicroUsd(simStandard, {
        inputTokens: usage.inputTokens + (crashed?.inputTokens ?? 0),
        outputTokens: usage.outputTokens + (crashed?.outputTokens ?? 0),
      }),
    );

    // Temporal noticed the dead worker through the missing heartbeats and ran attempt 2 on worker B.
    const starts = await providerCallStarts(runId);
    expect(starts).toHaveLength(1); // the history keeps the last attempt's start
    expect(starts[0]).toMatchObject({ attempt: 2, identity: `palyra-worker@${pidB}` });
    expect(starts[0]?.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(
      temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_HEARTBEAT,
    );

    // The books: the hold settled once, one usage record per policy window, nothing left pending.
    expect(await repo.getReservation(`run-${runId}`)).toMatchObject({ state: 'settled' });
    const records = await ledger.db
      .selectFrom('usage_records')
      .selectAll()
      .where('reservation_id', '=', `run-${runId}`)
      .execute();
    expect(records.map((r) => [r.policy_id, r.amount]).sort()).toEqual([
      ['crash-principal-daily', run.costMicroUsd],
      ['crash-tenant-daily', run.costMicroUsd],
    ]);
    const windows = await windowsOfRun(repo, runId);
    expect(windows.map((w) => ({ policyId: w.policyId, spent: w.spent, reserved: w.reserved }))).toEqual(
      expect.arrayContaining([
        { policyId: 'crash-tenant-daily', spent: run.costMicroUsd, reserved: 0 },
        { policyId: 'crash-principal-daily', spent: run.costMicroUsd, reserved: 0 },
      ]),
    );
    const pending = await ledger.db.selectFrom('reservations').select('reservation_id').where('state', '=', 'pending').execute();
    expect(pending).toEqual([]);
    expect(await checkLedgerInvariants(ledger.db, { now: new Date(), sweepIntervalMs: 60_000 })).toEqual([]);

    // Worker B stops cleanly on SIGTERM and leaves nothing behind.
    const descendantsB = descendantsOf(pidB);
    workerB.child.kill('SIGTERM');
    expect(await workerB.exited).toEqual({ code: 0, signal: null });
    await expectGoneWithEverythingItStarted(pidB, descendantsB);
  }, 150_000);
});
