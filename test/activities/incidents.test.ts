import { randomUUID } from 'node:crypto';
import type { Client, Connection } from '@temporalio/client';
import { createIncidentActivities } from '../../src/activities/incidents';
import type { PalyraConfig } from '../../src/config';
import { offerRemediation, type SupervisorEvidence } from '../../src/domain/self-healing';
import type { RemediationRequest } from '../../src/temporal/contracts';
import { ledgerDialects, openTestLedger, type TestLedger } from '../support/ledger';
import { connectTestClient, testConfig } from '../support/temporal';

/**
 * The remediation activity's promises, attacked where they break: a retry after its worker died
 * mid-action never acts twice, and three failed remediations in a row open the installation-wide
 * breaker. Real ledger (both dialects) and the real dev server; the evidence is given, so the
 * re-check sees exactly the problem under test.
 */
let client: Client;
let connection: Connection;
beforeAll(async () => {
  ({ client, connection } = await connectTestClient());
});
afterAll(() => connection.close());

/** Evidence of a workflow whose workflow task keeps failing, with a reset point that does not exist. */
function failingWorkflowEvidence(workflowId: string): SupervisorEvidence {
  return {
    observedAt: Date.now(),
    workflows: [],
    taskQueues: [],
    failingWorkflows: [
      {
        workflowId,
        temporalRunId: randomUUID(),
        workflowType: 'runWorkflow',
        attempt: 5,
        failure: 'nondeterminism',
        lastGoodWorkflowTaskEventId: 4,
      },
    ],
    pendingReservations: [],
    tenantSpend: [],
    unavailable: {},
  };
}

describe.each(ledgerDialects())('remediateIncident on the %s ledger', (dialect) => {
  let ledger: TestLedger;
  let config: PalyraConfig;
  beforeEach(async () => {
    ledger = await openTestLedger(dialect);
    config = testConfig({
      selfHealing: { maxRemediationsPerMinute: 10, circuitBreaker: { consecutiveFailures: 3, openMs: 300_000 } },
    });
  });
  afterEach(() => ledger.close());

  const activitiesFor = (evidence: () => SupervisorEvidence) =>
    createIncidentActivities({ client, ledger: ledger.repo, config, gatherEvidence: async () => evidence() });

  function resetRequest(workflowId: string, slotId: string = randomUUID()): RemediationRequest {
    const target = { workflowId, temporalRunId: 'unused', eventId: 4 };
    return {
      incidentId: `incident-${randomUUID().slice(0, 8)}`,
      detector: 'workflow_task_failing',
      dedupeKey: '',
      remediation: offerRemediation('reset_workflow', target, 'auto'),
      by: 'alice',
      slotId,
    };
  }
  const requestFor = (evidence: SupervisorEvidence, slotId?: string): RemediationRequest => {
    const failing = evidence.failingWorkflows[0]!;
    return { ...resetRequest(failing.workflowId, slotId), dedupeKey: `${failing.workflowId}:${failing.temporalRunId}` };
  };

  it('a retry whose slot is still pending (its worker died mid-action) does not act again', async () => {
    const evidence = failingWorkflowEvidence(`gone-${randomUUID()}`);
    const request = requestFor(evidence);
    // The first try claimed the slot and then its worker died: nothing recorded the outcome.
    const claim = await ledger.repo.claimRemediationSlot({
      incidentId: request.incidentId,
      remediationId: 'reset_workflow',
      by: 'alice',
      maxPerMinute: 10,
      breaker: config.selfHealing.circuitBreaker,
      slotId: request.slotId,
    });
    expect(claim).toEqual({ allowed: true, slotId: request.slotId });

    const retried = await activitiesFor(() => evidence).remediateIncident(request);
    expect(retried.status).toBe('failed');
    expect(retried.detail).toContain('not repeated, so it cannot act twice');
    // The problem gone by then: the interrupted action is taken to have worked.
    const gone = await activitiesFor(() => ({ ...evidence, failingWorkflows: [] })).remediateIncident({
      ...request,
      slotId: randomUUID(),
    });
    expect(gone).toMatchObject({ status: 'skipped', skipCause: 'evidence_cleared' });

    // Asked again with the same slot, the recorded outcome stands; the log holds one action for it.
    expect(await activitiesFor(() => evidence).remediateIncident(request)).toMatchObject({ status: 'failed' });
    const log = await ledger.repo.recentRemediations({ limit: 64 });
    expect(log.filter((entry) => entry.slotId === request.slotId)).toEqual([
      expect.objectContaining({ status: 'failed', remediationId: 'reset_workflow' }),
    ]);
  });

  it('three failed remediations in a row open the breaker: the next one is skipped with the reason', async () => {
    const outcomes = [];
    for (let i = 0; i < 4; i++) {
      // Reset of a workflow that does not exist: Temporal refuses it, the remediation fails.
      const evidence = failingWorkflowEvidence(`missing-${randomUUID()}`);
      outcomes.push(await activitiesFor(() => evidence).remediateIncident(requestFor(evidence)));
    }
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['failed', 'failed', 'failed', 'skipped']);
    expect(outcomes[0]?.detail).toMatch(/not found|NotFound|does not exist/i);
    expect(outcomes[3]).toMatchObject({
      skipCause: 'gated',
      detail: expect.stringContaining('circuit open: 3 consecutive failed remediations'),
    });
    expect(await ledger.repo.remediationCounts()).toEqual(
      expect.arrayContaining([
        { remediationId: 'reset_workflow', status: 'failed', count: 3 },
        { remediationId: 'reset_workflow', status: 'skipped', count: 1 },
      ]),
    );
  });

  it('an evidence source that cannot be read holds the action back without resolving the incident', async () => {
    const evidence = failingWorkflowEvidence(`unread-${randomUUID()}`);
    const unreadable = { ...evidence, failingWorkflows: [], unavailable: { failingWorkflows: 'deadline exceeded' } };
    const outcome = await activitiesFor(() => unreadable).remediateIncident(requestFor(evidence));
    expect(outcome).toMatchObject({
      status: 'skipped',
      skipCause: 'gated',
      detail: expect.stringContaining('could not be re-checked'),
    });
  });
});
