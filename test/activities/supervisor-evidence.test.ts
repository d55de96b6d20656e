import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client, Connection } from '@temporalio/client';
import type { PalyraConfig } from '../../src/config';
import type { BudgetPolicy } from '../../src/domain/budget';
import type { OpenWorkflowEvidence, SupervisorEvidence } from '../../src/domain/self-healing';
import {
  createSupervisorEvidenceActivities,
  ownerWorkflowIdOfBooking,
  type SupervisorEvidenceDeps,
} from '../../src/activities/supervisor-evidence';
import {
  runStateQuery,
  runWorkflowId,
  runWorkflowType,
  taskAttemptBookingId,
  type RunWorkflowInput,
} from '../../src/temporal/contracts';
import { ledgerDialects, openTestLedger, type TestLedger } from '../support/ledger';
import { connectTestClient, startTestWorker, testConfig, uniqueTaskQueue, workflowBundle } from '../support/temporal';

/**
 * The supervisor's evidence, read from the shared dev server and a real ledger: a streaming run, its
 * hold and its provider attempt's heartbeat; pollers; a workflow whose tasks keep failing; and a
 * source that breaks or hangs without taking the others with it.
 */
let client: Client;
let connection: Connection;
let ledger: TestLedger;
let config: PalyraConfig;
let worker: { stop(): Promise<void> };
/** A queue nobody polls, standing in for the supervisor's. */
const idleQueue = uniqueTaskQueue('nobody');
const started: string[] = [];

beforeAll(async () => {
  ({ client, connection } = await connectTestClient());
  ledger = await openTestLedger(ledgerDialects().at(-1) ?? 'sqlite');
  config = testConfig();
  await workflowBundle();
  worker = await startTestWorker(config, ledger.repo);
}, 120_000);
afterAll(async () => {
  await Promise.all(
    started.map((id) =>
      client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined),
    ),
  );
  await worker?.stop();
  await ledger?.close();
  await connection?.close();
});

function gather(deps: Partial<SupervisorEvidenceDeps> = {}): Promise<SupervisorEvidence> {
  const activities = createSupervisorEvidenceActivities({ client, ledger: ledger.repo, namespace: 'default', ...deps });
  return activities.gatherEvidence({ runTaskQueue: config.temporal.taskQueue, supervisorTaskQueue: idleQueue });
}

/** Gathers until `check` passes (visibility and heartbeats arrive a little after the fact). */
async function gatherUntil(what: string, check: (evidence: SupervisorEvidence) => boolean): Promise<SupervisorEvidence> {
  let evidence = await gather();
  for (let i = 0; i < 60 && !check(evidence); i++) {
    await delay(250);
    evidence = await gather();
  }
  if (!check(evidence)) throw new Error(`timed out waiting until ${what}: ${JSON.stringify(evidence, null, 1)}`);
  return evidence;
}

function runInput(overrides: Partial<RunWorkflowInput> = {}): RunWorkflowInput {
  return {
    runId: randomUUID(),
    tenantId: 'acme',
    principalId: 'svc-a',
    createdAt: new Date().toISOString(),
    messages: [{ role: 'user', content: 'summarise the quarterly report' }],
    model: { requested: 'sim-small', selected: 'sim-small', providerId: 'simulated' },
    maxOutputTokens: 1_024,
    taskClass: 'primary_interactive',
    // Slow enough to stream for minutes; a heartbeat timeout of 3 s flushes heartbeats every 2.4 s.
    simulation: { outputTokens: 1_000, chunkDelayMs: 200 },
    timing: { heartbeatTimeoutMs: 3_000, providerTimeoutMs: 600_000, approvalTimeoutMs: 600_000 },
    ...overrides,
  };
}

async function startRun(input: RunWorkflowInput) {
  const handle = await client.workflow.start(runWorkflowType, {
    workflowId: runWorkflowId(input.runId),
    taskQueue: config.temporal.taskQueue,
    args: [input],
  });
  started.push(handle.workflowId);
  return handle;
}

const workflowOf = (evidence: SupervisorEvidence, runId: string): OpenWorkflowEvidence | undefined =>
  evidence.workflows.find((w) => w.workflowId === runWorkflowId(runId));

describe('supervisor evidence', () => {
  it('shows a streaming run with its provider attempt, its decoded progress and its live hold, until it is terminated', async () => {
    const input = runInput();
    const handle = await startRun(input);
    const streaming = await gatherUntil('the run streams and has heartbeated tokens', (evidence) => {
      const activity = workflowOf(evidence, input.runId)?.pendingActivities.find((a) => a.activityType === 'invokeProvider');
      return (activity?.progress?.tokensSoFar ?? 0) > 0;
    });

    expect(streaming.unavailable).toEqual({});
    const run = workflowOf(streaming, input.runId) as OpenWorkflowEvidence;
    const description = await handle.describe();
    expect(run).toMatchObject({
      kind: 'run',
      id: input.runId,
      temporalRunId: description.runId,
      tenantId: 'acme',
      state: 'running',
      cancelRequested: false,
      startedAt: description.startTime.getTime(),
    });
    const runDocument = await handle.query(runStateQuery);
    expect(run.stateSince).toBe(Date.parse(runDocument.startedAt as string));

    const provider = run.pendingActivities.find((a) => a.activityType === 'invokeProvider');
    expect(provider).toMatchObject({ state: 'started', attempt: 1, providerId: 'simulated' });
    expect(provider?.progress).toMatchObject({ attempt: 1 });
    expect(provider?.progress?.tokensSoFar).toBeGreaterThan(0);
    expect(provider?.progress?.progressAt).toBeGreaterThanOrEqual(provider?.lastStartedAt ?? Infinity);
    expect(provider?.lastHeartbeatAt).toBeGreaterThanOrEqual(provider?.lastStartedAt ?? Infinity);
    // Read after `observedAt` (the tick's start), so a heartbeat may be a little newer than it.
    expect(provider?.lastHeartbeatAt).toBeLessThanOrEqual(Date.now());
    expect(provider?.lastFailure).toBeUndefined();

    // Its hold is owned by a running workflow...
    const hold = streaming.pendingReservations.find((r) => r.bookingId === input.runId);
    expect(hold).toMatchObject({ tenantId: 'acme', ownerWorkflowId: runWorkflowId(input.runId), ownerOpen: true });
    expect(hold?.heldMicroUsd).toBeGreaterThan(0);
    expect(hold?.expiresAt).toBeGreaterThan(hold?.createdAt ?? Infinity);

    // ...and orphaned once the workflow is terminated without settling it.
    await handle.terminate('lost between two writes');
    const orphaned = await gatherUntil('the run has left the open workflows', (e) => !workflowOf(e, input.runId));
    expect(orphaned.pendingReservations.find((r) => r.bookingId === input.runId)).toMatchObject({
      ownerWorkflowId: runWorkflowId(input.runId),
      ownerOpen: false,
    });
    expect(orphaned.failingWorkflows).toEqual([]);
  });

  it('lists the test worker as a poller of the run queue, and nobody on a queue nobody polls', async () => {
    const before = Date.now();
    const evidence = await gatherUntil('the worker has polled both kinds of task', (e) => {
      const runs = e.taskQueues.find((q) => q.role === 'runs');
      return (runs?.pollers.length ?? 0) > 0;
    });
    const runs = evidence.taskQueues.find((q) => q.role === 'runs');
    expect(runs?.name).toBe(config.temporal.taskQueue);
    // One worker polls workflow and activity tasks under one identity: merged into one poller.
    expect(runs?.pollers).toHaveLength(1);
    expect(runs?.pollers[0]?.identity).toMatch(/@/);
    expect(runs?.lastPollAt).toBe(runs?.pollers[0]?.lastAccessAt);
    // Access times are the server's (the same host here): recent, not in the future.
    expect(runs?.lastPollAt).toBeGreaterThan(before - 120_000);
    expect(runs?.lastPollAt).toBeLessThanOrEqual(evidence.observedAt + 1_000);

    const idle = evidence.taskQueues.find((q) => q.role === 'supervisor');
    expect(idle).toMatchObject({ name: idleQueue, pollers: [] });
    expect(idle?.lastPollAt).toBeUndefined();
  });

  it('tells when a run began waiting for approval, from its history', async () => {
    await ledger.repo.putPolicy({
      policyId: `parked-${randomUUID()}`,
      scope: { kind: 'tenant', id: 'parked' },
      metric: 'cost',
      window: 'day',
      hardLimit: 0,
      action: 'approval_required',
      enabled: true,
    } satisfies BudgetPolicy);
    const input = runInput({ tenantId: 'parked' });
    const handle = await startRun(input);
    const evidence = await gatherUntil(
      'the run awaits approval',
      (e) => workflowOf(e, input.runId)?.state === 'awaiting_approval',
    );
    const run = workflowOf(evidence, input.runId) as OpenWorkflowEvidence;
    expect(run.tenantId).toBe('parked');
    expect(run.pendingActivities).toEqual([]);
    // Entered after the run started (admission came first), and not after the evidence was read.
    expect(run.stateSince).toBeGreaterThan(run.startedAt);
    expect(run.stateSince).toBeLessThanOrEqual(evidence.observedAt);
    const history = await handle.fetchHistory();
    const upserts = (history.events ?? []).filter((e) => e.upsertWorkflowSearchAttributesEventAttributes);
    const parkedAt = upserts.map((e) => Number(e.eventTime?.seconds) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6));
    expect(parkedAt).toContain(run.stateSince);
    await handle.terminate('test over');
  });

  it('reports a workflow whose workflow task keeps failing on the run queue, whatever its type', async () => {
    // The worker's bundle has no such workflow: every workflow task it picks up fails.
    const handle = await client.workflow.start('noSuchWorkflow', {
      workflowId: `broken-${randomUUID()}`,
      taskQueue: config.temporal.taskQueue,
      args: [],
    });
    started.push(handle.workflowId);
    const evidence = await gatherUntil('the broken workflow is failing', (e) =>
      e.failingWorkflows.some((w) => w.workflowId === handle.workflowId),
    );
    const failing = evidence.failingWorkflows.find((w) => w.workflowId === handle.workflowId);
    expect(failing).toMatchObject({ temporalRunId: handle.firstExecutionRunId, workflowType: 'noSuchWorkflow' });
    expect(failing?.attempt).toBeGreaterThanOrEqual(2);
    expect(failing?.failure).toMatch(/noSuchWorkflow/);
    // Not one of its workflow tasks ever completed: there is no reset point.
    expect(failing?.lastGoodWorkflowTaskEventId).toBeUndefined();
    // It is neither a run nor a task.
    expect(evidence.workflows.some((w) => w.workflowId === handle.workflowId)).toBe(false);
    await handle.terminate('test over');
  });

  it('names a source that fails or hangs as unavailable and still fills the others', async () => {
    const input = runInput();
    await startRun(input);
    await gatherUntil('the run is open', (e) => workflowOf(e, input.runId) !== undefined);

    const begun = Date.now();
    const evidence = await gather({
      ledger: {
        tenantSpendRates: () => Promise.reject(new Error('connection refused')),
        pendingReservationsForSupervisor: () => new Promise(() => {}),
      },
    });
    const tookMs = Date.now() - begun;

    expect(evidence.unavailable).toEqual({
      tenantSpend: 'tenantSpend: connection refused',
      pendingReservations: expect.stringMatching(/^pendingReservations: .*5000 ms/),
    });
    expect(evidence.tenantSpend).toEqual([]);
    expect(evidence.pendingReservations).toEqual([]);
    expect(workflowOf(evidence, input.runId)).toBeDefined();
    expect(evidence.taskQueues).toHaveLength(2);
    // The hung source is given up at its deadline, not waited for.
    expect(tookMs).toBeGreaterThanOrEqual(4_500);
    expect(tookMs).toBeLessThan(8_000);
  });
});

describe('the owner of a booking', () => {
  it.each([
    ['a run id', '6f1c0b7e-3d0a-4c1e-9b8a-2f7d5e4c3b2a', 'run-6f1c0b7e-3d0a-4c1e-9b8a-2f7d5e4c3b2a'],
    ["a task attempt's booking", taskAttemptBookingId('run-a-3', 2, 4), 'bgtask-run-a-3'],
  ])('of %s is its workflow', (_what, bookingId, owner) => {
    expect(ownerWorkflowIdOfBooking(bookingId)).toBe(owner);
  });
});
