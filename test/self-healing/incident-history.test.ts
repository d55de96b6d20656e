import type { FastifyInstance } from 'fastify';
import { incidentObservedSignal, incidentStateQuery, incidentWorkflowId } from '../../src/temporal/contracts';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';
import { approvalWaitingFinding, openIncident, waitForIncident } from '../support/incident-findings';
import { startSupervisorTestWorker } from '../support/temporal';

/**
 * An incident seen every tick for days grows its history with every observation: past its bound
 * (2,000 events) it continues as new with its document, and goes on taking observations and decisions.
 */
let stack: TestStack;
let app: FastifyInstance;
let worker: { stop(): Promise<void> };
beforeAll(async () => {
  stack = await openTestStack();
  app = stack.app;
  worker = await startSupervisorTestWorker(stack.config, stack.ledger.repo);
});
afterAll(async () => {
  await worker?.stop();
  await stack?.close();
});

it('continues as new past its history bound, keeping its document, and still takes a decision', async () => {
  const finding = approvalWaitingFinding('acme');
  const incidentId = await openIncident(stack.client, stack.config.temporal.supervisorTaskQueue, finding);
  await waitForIncident(app, incidentId, (incident) => incident.state === 'awaiting_approval', 'awaiting_approval');
  const handle = stack.client.workflow.getHandle(incidentWorkflowId(incidentId));
  const firstRunId = (await handle.describe()).runId;

  let sent = 0;
  let currentRunId = firstRunId;
  while (currentRunId === firstRunId && sent < 3_000) {
    // One at a time, as the supervisor sends them (one per tick): each is a workflow task of its own.
    for (let i = 0; i < 100; i++, sent++) {
      await handle.signal(incidentObservedSignal, { finding, mode: 'observe_only', at: new Date().toISOString() });
    }
    currentRunId = (await handle.describe()).runId;
  }
  expect(currentRunId).not.toBe(firstRunId);

  const first = await stack.client.workflow.getHandle(incidentWorkflowId(incidentId), firstRunId).describe();
  expect(first.status.name).toBe('CONTINUED_AS_NEW');
  expect(first.historyLength).toBeLessThan(2_200);

  // Every observation counted across both executions, the bounded history kept.
  let document = await handle.query(incidentStateQuery);
  for (let i = 0; i < 50 && document.observations < sent + 1; i++) document = await handle.query(incidentStateQuery);
  expect(document).toMatchObject({ incidentId, state: 'awaiting_approval', observations: sent + 1 });
  expect(document.history.length).toBeLessThanOrEqual(50);

  const rejected = await app.inject({
    method: 'POST',
    url: `/v1/incidents/${incidentId}/actions`,
    headers: bearer(testTokens.admin),
    payload: { action: 'reject', note: 'seen enough' },
  });
  expect(rejected.statusCode).toBe(200);
  expect(rejected.json()).toMatchObject({ state: 'resolved', resolution: 'rejected' });
  await handle.terminate('test over');
}, 180_000);
