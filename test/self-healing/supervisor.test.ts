import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { PalyraConfigInput } from '../../src/config';
import { deleteSupervisorSchedule, ensureSupervisorSchedule, supervisorScheduleId } from '../../src/temporal/supervisor-schedule';
import { runReservationId, runWorkflowId } from '../../src/temporal/contracts';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';
import { waitForRunEnd } from '../support/runs';
import { startSupervisorTestWorker, startTestWorker, testConfig } from '../support/temporal';
import {
  startRunThrough,
  waitForIncidentAbout as waitForIncidentAboutThrough,
  waitForRunStateThrough,
  type Json,
} from './support';

/**
 * Self-healing end to end on the real dev server: the supervisor's schedule ticks every second with
 * small thresholds, real runs are broken the way production breaks them, and the incidents are read
 * and decided through the API.
 */
const selfHealing: PalyraConfigInput['selfHealing'] = {
  mode: 'auto',
  supervisorIntervalMs: 1_000,
  maxRemediationsPerMinute: 30,
  detectors: {
    stalled_stream: { stallAfterMs: 3_000 },
    orphaned_reservation: { graceMs: 1_000 },
    approval_waiting: { afterMs: 2_000 },
    no_pollers: { afterMs: 90_000 },
    run_overdue: { afterMs: 4_000 },
    retry_storm: { mode: 'disabled' },
    spend_spike: { mode: 'disabled' },
  },
};

let stack: TestStack;
let app: FastifyInstance;
let runWorker: { stop(): Promise<void> };
let supervisorWorker: { stop(): Promise<void> };

beforeAll(async () => {
  // The worker's own stall watchdog (the heartbeat timeout) is far beyond the supervisor's threshold,
  // so it is the supervisor that heals a stalled stream here.
  const config = testConfig({ selfHealing, runs: { heartbeatTimeoutMs: 120_000 } });
  stack = await openTestStack(config);
  app = stack.app;
  runWorker = await startTestWorker(stack.config, stack.ledger.repo);
  supervisorWorker = await startSupervisorTestWorker(stack.config, stack.ledger.repo);
  await ensureSupervisorSchedule(stack.client, stack.config);
});
afterAll(async () => {
  if (stack) await deleteSupervisorSchedule(stack.client, stack.config);
  await runWorker?.stop();
  await supervisorWorker?.stop();
  await stack?.close();
});

const waitForIncidentAbout = (detector: string, subjectId: string, predicate: (incident: Json) => boolean, what: string) =>
  waitForIncidentAboutThrough(app, detector, subjectId, predicate, what);
const startRun = (simulation: Record<string, unknown>) => startRunThrough(app, simulation);
const waitForRunState = (runId: string, state: string) => waitForRunStateThrough(app, runId, state);

describe('the supervisor schedule', () => {
  it('is created once per supervisor queue, overlap SKIP, at the configured interval; ensuring it again updates it', async () => {
    expect(await ensureSupervisorSchedule(stack.client, stack.config)).toEqual({ created: false });
    const description = await stack.client.schedule.getHandle(supervisorScheduleId(stack.config)).describe();
    expect(description.policies.overlap).toBe('SKIP');
    expect(description.spec.intervals?.[0]?.every).toBe(1_000);
    expect(description.action).toMatchObject({
      workflowType: 'supervisorWorkflow',
      taskQueue: stack.config.temporal.supervisorTaskQueue,
    });
    // Ticks run and record themselves in the ledger.
    for (let i = 0; i < 100 && !(await stack.ledger.repo.lastSupervisorTick()); i++) await delay(100);
    const tick = await stack.ledger.repo.lastSupervisorTick();
    expect(tick).toMatchObject({ findings: expect.any(Number), result: { unavailable: {} } });
    expect(tick).not.toHaveProperty('error');
  });
});

describe('self-healing on the dev server', () => {
  it('detects a stalled stream and, in auto, fails the attempt so the retry finishes the run', async () => {
    const runId = await startRun({ outputTokens: 6, chunkDelayMs: 0, stallAfterTokens: 3, stallMs: 600_000 });
    const incident = await waitForIncidentAbout('stalled_stream', runId, (i) => i.state === 'resolved', 'resolved');
    expect(incident).toMatchObject({
      severity: 'high',
      resolution: 'remediated',
      subject: { kind: 'run', id: runId },
      tenantId: 'acme',
      remediation: { id: 'fail_attempt', risk: 'low', requiresApproval: false, autoExecutable: true },
    });
    expect(incident.attempts).toEqual([
      expect.objectContaining({ remediationId: 'fail_attempt', status: 'succeeded', by: 'supervisor' }),
    ]);
    const run = await waitForRunEnd(app, runId);
    expect(run).toMatchObject({ state: 'succeeded', usage: { outputTokens: 6 } });
    // Prometheus sees it, from the ledger, as every API process of the installation would.
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/^palyra_remediations_total\{remediation="fail_attempt",outcome="succeeded"\} [1-9]/m);
    expect(metrics).toMatch(/^palyra_supervisor_tick_duration_seconds \d/m);
    // The failed attempt pays for what it streamed before it stalled (as its last heartbeat counted it).
    expect(run.chargedAttempts).toEqual([expect.objectContaining({ attempt: 1, outputTokens: expect.any(Number) })]);
    expect(run.chargedAttempts[0].outputTokens).toBeGreaterThan(0);
  });

  it('raises nothing about a slow stream whose chunks keep coming (no false positive)', async () => {
    // A chunk every 1.5 s for 12 s, against a 3 s stall threshold checked every second.
    const runId = await startRun({ outputTokens: 8, chunkDelayMs: 1_500 });
    const run = await waitForRunEnd(app, runId);
    expect(run.state).toBe('succeeded');
    const listed = await app.inject({
      method: 'GET',
      url: '/v1/incidents?detector=stalled_stream&limit=100',
      headers: bearer(testTokens.admin),
    });
    expect(listed.json().items.filter((item: Json) => item.subject.id === runId)).toEqual([]);
  });

  it('releases the hold of a run terminated from Temporal (auto)', async () => {
    const runId = await startRun({ outputTokens: 400, chunkDelayMs: 100 });
    await waitForRunState(runId, 'running');
    const reservationId = runReservationId(runId);
    expect((await stack.ledger.repo.getReservation(reservationId))?.state).toBe('pending');
    await stack.client.workflow.getHandle(runWorkflowId(runId)).terminate('an operator clicked Terminate in the Temporal UI');

    const incident = await waitForIncidentAbout('orphaned_reservation', reservationId, (i) => i.state === 'resolved', 'resolved');
    expect(incident).toMatchObject({ resolution: 'remediated', remediation: { id: 'release_reservation' } });
    expect(incident.attempts[0]).toMatchObject({ status: 'succeeded', by: 'supervisor' });
    expect((await stack.ledger.repo.getReservation(reservationId))?.state).not.toBe('pending');
    expect(await stack.ledger.invariants(new Date())).toEqual([]);
  });

  describe('approval_waiting (its remediation always needs a person)', () => {
    const putApprovalPolicy = (tenant: string) =>
      stack.ledger.repo.putPolicy({
        policyId: `${tenant}-needs-approval`,
        scope: { kind: 'tenant', id: tenant },
        metric: 'cost',
        window: 'day',
        hardLimit: 1,
        action: 'approval_required',
        enabled: true,
      });

    it('approving the remediation denies the waiting run; deciding the run instead resolves the incident', async () => {
      await putApprovalPolicy('acme');
      try {
        const denied = await startRun({ outputTokens: 4, chunkDelayMs: 0 });
        const decidedByHand = await startRun({ outputTokens: 4, chunkDelayMs: 0 });
        await waitForRunState(denied, 'awaiting_approval');
        await waitForRunState(decidedByHand, 'awaiting_approval');

        const waiting = await waitForIncidentAbout(
          'approval_waiting',
          denied,
          (i) => i.state === 'awaiting_approval',
          'awaiting_approval',
        );
        expect(waiting.remediation).toMatchObject({ id: 'deny_approval', requiresApproval: true, autoExecutable: false });
        const approved = await app.inject({
          method: 'POST',
          url: `/v1/incidents/${waiting.incidentId}/actions`,
          headers: bearer(testTokens.admin),
          payload: { action: 'approve', note: 'nobody is coming for it' },
        });
        expect(approved.statusCode).toBe(200);
        const healed = await waitForIncidentAbout('approval_waiting', denied, (i) => i.state === 'resolved', 'resolved');
        expect(healed).toMatchObject({ resolution: 'remediated' });
        expect(healed.attempts[0]).toMatchObject({ remediationId: 'deny_approval', status: 'succeeded', by: 'admin' });
        expect((await waitForRunEnd(app, denied)).state).toBe('denied');

        await waitForIncidentAbout(
          'approval_waiting',
          decidedByHand,
          (i) => i.state === 'awaiting_approval',
          'awaiting_approval',
        );
        const decided = await app.inject({
          method: 'POST',
          url: `/v1/runs/${decidedByHand}/approval`,
          headers: bearer(testTokens.operator),
          payload: { decision: 'deny' },
        });
        expect(decided.statusCode).toBe(200);
        const cleared = await waitForIncidentAbout('approval_waiting', decidedByHand, (i) => i.state === 'resolved', 'resolved');
        expect(cleared).toMatchObject({ resolution: 'evidence_cleared', attempts: [] });
      } finally {
        await stack.ledger.repo.deletePolicy('acme-needs-approval');
      }
    });
  });

  it('an overdue run waits for an SRE; approving its cancellation cancels it and charges what it streamed', async () => {
    const runId = await startRun({ outputTokens: 200, chunkDelayMs: 200 });
    const overdue = await waitForIncidentAbout('run_overdue', runId, (i) => i.state === 'awaiting_approval', 'awaiting_approval');
    expect(overdue.remediation).toMatchObject({ id: 'cancel_run', risk: 'medium', requiresApproval: true });
    expect(
      (
        await app.inject({
          method: 'POST',
          url: `/v1/incidents/${overdue.incidentId}/actions`,
          headers: bearer(testTokens.admin),
          payload: { action: 'approve', note: 'nobody waits for it' },
        })
      ).statusCode,
    ).toBe(200);
    const healed = await waitForIncidentAbout('run_overdue', runId, (i) => i.state === 'resolved', 'resolved');
    expect(healed).toMatchObject({ resolution: 'remediated' });
    const run = await waitForRunState(runId, 'cancelled');
    expect(run.costMicroUsd).toBeGreaterThan(0);
  });
});
