import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { deleteSupervisorSchedule, ensureSupervisorSchedule } from '../../src/temporal/supervisor-schedule';
import { runReservationId, runWorkflowId } from '../../src/temporal/contracts';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';
import { testEnv } from '../support/env';
import { startSupervisorTestWorker, startTestWorker, testConfig, testTemporalAddress } from '../support/temporal';
import { startRunThrough, waitForIncidentAbout, waitForRunStateThrough, type Json } from './support';

/**
 * `observe_only` (the default): every remediation waits for a person, who decides through the API or
 * with the `decide` signal from the Temporal CLI; the installation-wide throttle holds an approved
 * action back with the reason. Real runs on the dev server, the supervisor ticking every second.
 */
let stack: TestStack;
let app: FastifyInstance;
let workers: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  const config = testConfig({
    selfHealing: {
      mode: 'observe_only',
      supervisorIntervalMs: 1_000,
      maxRemediationsPerMinute: 1,
      detectors: {
        orphaned_reservation: { graceMs: 1_000 },
        retry_storm: { attempts: 3 },
        no_pollers: { mode: 'disabled' },
        approval_waiting: { mode: 'disabled' },
        stalled_stream: { mode: 'disabled' },
      },
    },
  });
  stack = await openTestStack(config);
  app = stack.app;
  workers = [
    await startTestWorker(stack.config, stack.ledger.repo),
    await startSupervisorTestWorker(stack.config, stack.ledger.repo),
  ];
  await ensureSupervisorSchedule(stack.client, stack.config);
});
afterAll(async () => {
  if (stack) await deleteSupervisorSchedule(stack.client, stack.config);
  await Promise.all(workers.map((worker) => worker.stop()));
  await stack?.close();
});

const startRun = (simulation: Record<string, unknown>) => startRunThrough(app, simulation);
const incidentAbout = (detector: string, subjectId: string, predicate: (incident: Json) => boolean, what: string) =>
  waitForIncidentAbout(app, detector, subjectId, predicate, what);
const act = (incidentId: string, action: string, note?: string) =>
  app.inject({
    method: 'POST',
    url: `/v1/incidents/${incidentId}/actions`,
    headers: bearer(testTokens.admin),
    payload: { action, ...(note ? { note } : {}) },
  });

async function orphanedHold(): Promise<string> {
  const runId = await startRun({ outputTokens: 400, chunkDelayMs: 100 });
  await waitForRunStateThrough(app, runId, 'running');
  await stack.client.workflow.getHandle(runWorkflowId(runId)).terminate('terminated from the Temporal UI');
  return runReservationId(runId);
}

describe('observe_only on the dev server', () => {
  it('an orphaned hold waits for an SRE; approved, it is released; the throttle holds the next one back; the Temporal CLI decides too', async () => {
    const first = await orphanedHold();
    const second = await orphanedHold();
    const waitingFirst = await incidentAbout(
      'orphaned_reservation',
      first,
      (i) => i.state === 'awaiting_approval',
      'awaiting_approval',
    );
    const waitingSecond = await incidentAbout(
      'orphaned_reservation',
      second,
      (i) => i.state === 'awaiting_approval',
      'awaiting_approval',
    );
    expect(waitingFirst.remediation).toMatchObject({ id: 'release_reservation', risk: 'low', autoExecutable: false });
    expect((await stack.ledger.repo.getReservation(first))?.state).toBe('pending');

    expect((await act(waitingFirst.incidentId, 'approve', 'the run is gone')).statusCode).toBe(200);
    const released = await incidentAbout('orphaned_reservation', first, (i) => i.state === 'resolved', 'resolved');
    expect(released).toMatchObject({ resolution: 'remediated' });
    expect(released.attempts).toEqual([
      expect.objectContaining({ remediationId: 'release_reservation', status: 'succeeded', by: 'admin' }),
    ]);
    expect((await stack.ledger.repo.getReservation(first))?.state).not.toBe('pending');

    // One remediation a minute: the second approval is recorded as skipped, with the reason, and waits again.
    expect((await act(waitingSecond.incidentId, 'approve')).statusCode).toBe(200);
    const held = await incidentAbout(
      'orphaned_reservation',
      second,
      (i) => i.attempts.length > 0 && i.state === 'awaiting_approval',
      'held back',
    );
    expect(held.attempts[0]).toMatchObject({ status: 'skipped', by: 'admin', detail: expect.stringContaining('throttled') });
    expect((await stack.ledger.repo.getReservation(second))?.state).toBe('pending');

    // The same decision from the Temporal CLI, as an operator would send it from a terminal.
    await promisify(execFile)(process.env[testEnv.temporalCliPath] as string, [
      'workflow',
      'signal',
      '--address',
      testTemporalAddress(),
      '--workflow-id',
      waitingSecond.incidentId,
      '--name',
      'decide',
      '--input',
      JSON.stringify({ action: 'resolve', by: 'alice', note: 'releasing it by hand' }),
    ]);
    const resolved = await incidentAbout('orphaned_reservation', second, (i) => i.state === 'resolved', 'resolved');
    expect(resolved.resolution).toBe('resolved_by_sre');
    expect(resolved.history).toContainEqual(
      expect.objectContaining({ kind: 'decided', by: 'alice', detail: 'resolve: releasing it by hand' }),
    );
  });

  it('a retry storm opens an incident offering to open the provider circuit, and resolves itself when the run ends', async () => {
    // The provider fails the first four attempts; the fifth streams.
    const runId = await startRun({ outputTokens: 4, chunkDelayMs: 0, failure: 'http_500', failAttempts: 4 });
    const storm = await incidentAbout('retry_storm', runId, (i) => i.state === 'awaiting_approval', 'awaiting_approval');
    expect(storm).toMatchObject({
      severity: 'medium',
      subject: { kind: 'run', id: runId },
      remediation: { id: 'open_provider_circuit', risk: 'medium', requiresApproval: true, target: { providerId: 'simulated' } },
    });
    const cleared = await incidentAbout('retry_storm', runId, (i) => i.state === 'resolved', 'resolved');
    expect(cleared).toMatchObject({ resolution: 'evidence_cleared', attempts: [] });
    expect((await waitForRunStateThrough(app, runId, 'succeeded')).state).toBe('succeeded');
  });
});
