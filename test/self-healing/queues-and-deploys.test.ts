import { setTimeout as delay } from 'node:timers/promises';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { createPalyraWorker } from '../../src/temporal/worker';
import { deleteSupervisorSchedule, ensureSupervisorSchedule } from '../../src/temporal/supervisor-schedule';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';
import { startSupervisorTestWorker, testConfig, testTemporalAddress } from '../support/temporal';
import { waitForIncidentAbout } from './support';
import { pokeSignal } from './fixtures/drift-before';

/**
 * What breaks around the runs rather than in them, on the real dev server: no worker polling the run
 * queue (`no_pollers`), and a deploy whose workflow code no longer replays its histories
 * (`workflow_task_failing`, healed by an approved reset). Workers here run fixture workflows on the
 * run queue: `drift-before.ts` as first deployed, `drift-after.ts` as the bad deploy.
 */
let stack: TestStack;
let app: FastifyInstance;
let supervisorWorker: { stop(): Promise<void> };
let before: WorkflowBundleWithSourceMap;
let after: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  stack = await openTestStack(
    testConfig({
      selfHealing: {
        mode: 'auto',
        supervisorIntervalMs: 1_000,
        detectors: {
          no_pollers: { afterMs: 1_000 },
          workflow_task_failing: { attempts: 2 },
          orphaned_reservation: { mode: 'disabled' },
          spend_spike: { mode: 'disabled' },
        },
      },
    }),
  );
  app = stack.app;
  const quiet = {
    log: () => undefined,
    trace: () => undefined,
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  };
  [before, after] = await Promise.all([
    bundleWorkflowCode({ workflowsPath: require.resolve('./fixtures/drift-before'), logger: quiet }),
    bundleWorkflowCode({ workflowsPath: require.resolve('./fixtures/drift-after'), logger: quiet }),
  ]);
  supervisorWorker = await startSupervisorTestWorker(stack.config, stack.ledger.repo);
  await ensureSupervisorSchedule(stack.client, stack.config);
});
afterAll(async () => {
  if (stack) await deleteSupervisorSchedule(stack.client, stack.config);
  await supervisorWorker?.stop();
  await stack?.close();
});

/** A worker on the run queue running one version of the fixture workflow. */
async function startRunQueueWorker(bundle: WorkflowBundleWithSourceMap): Promise<{ stop(): Promise<void> }> {
  const { worker, connection } = await createPalyraWorker({
    address: testTemporalAddress(),
    namespace: 'default',
    taskQueue: stack.config.temporal.taskQueue,
    activities: {},
    workflowBundle: bundle,
  });
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

async function historyHas(workflowId: string, eventType: string): Promise<boolean> {
  const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).some((event) => event[eventType as keyof typeof event] != null);
}

describe('queues and deploys on the dev server', () => {
  it('no_pollers opens while nobody polls the run queue, pages once, and resolves when a worker polls', async () => {
    const queue = stack.config.temporal.taskQueue;
    const paged = await waitForIncidentAbout(app, 'no_pollers', queue, (i) => i.attempts.length > 0, 'paged');
    expect(paged).toMatchObject({ severity: 'critical', state: 'open', remediation: { id: 'page', fixesProblem: false } });
    expect(paged.attempts).toEqual([expect.objectContaining({ remediationId: 'page', status: 'succeeded', by: 'supervisor' })]);
    // Seen again every second, it does not page again.
    await delay(3_000);
    const still = (
      await app.inject({ method: 'GET', url: `/v1/incidents/${paged.incidentId}`, headers: bearer(testTokens.admin) })
    ).json();
    expect(still.attempts).toHaveLength(1);
    expect(still.observations).toBeGreaterThan(1);

    const worker = await startRunQueueWorker(before);
    try {
      const resolved = await waitForIncidentAbout(app, 'no_pollers', queue, (i) => i.state === 'resolved', 'resolved');
      expect(resolved.resolution).toBe('evidence_cleared');
    } finally {
      await worker.stop();
    }
  });

  it('a deploy that breaks replay opens workflow_task_failing; an approved reset to the last good task heals it', async () => {
    const workflowId = `drifting-${Date.now()}`;
    let worker = await startRunQueueWorker(before);
    try {
      await stack.client.workflow.start('driftingWorkflow', { workflowId, taskQueue: stack.config.temporal.taskQueue });
      for (let i = 0; i < 100 && !(await historyHas(workflowId, 'timerStartedEventAttributes')); i++) await delay(100);
    } finally {
      await worker.stop();
    }
    worker = await startRunQueueWorker(after);
    try {
      await stack.client.workflow.getHandle(workflowId).signal(pokeSignal);
      const failing = await waitForIncidentAbout(
        app,
        'workflow_task_failing',
        workflowId,
        (i) => i.state === 'awaiting_approval',
        'awaiting_approval',
      );
      expect(failing).toMatchObject({
        severity: 'critical',
        subject: { kind: 'workflow', id: workflowId },
        remediation: { id: 'reset_workflow', risk: 'high', requiresApproval: true, target: { workflowId, eventId: 4 } },
      });
      expect(failing.summary).toContain('driftingWorkflow');

      const approved = await app.inject({
        method: 'POST',
        url: `/v1/incidents/${failing.incidentId}/actions`,
        headers: bearer(testTokens.admin),
        payload: { action: 'approve', note: 'reset past the bad deploy' },
      });
      expect(approved.statusCode).toBe(200);
      const healed = await waitForIncidentAbout(
        app,
        'workflow_task_failing',
        workflowId,
        (i) => i.state === 'resolved',
        'resolved',
      );
      expect(healed.resolution).toBe('remediated');
      expect(healed.attempts[0]).toMatchObject({ remediationId: 'reset_workflow', status: 'succeeded', by: 'admin' });
      // The new execution replays under the new code: its timer starts, no workflow task is failing.
      for (let i = 0; i < 100 && !(await historyHas(workflowId, 'timerStartedEventAttributes')); i++) await delay(100);
      const description = await stack.client.workflow.getHandle(workflowId).describe();
      expect(description.status.name).toBe('RUNNING');
      expect(description.runId).not.toBe(failing.evidence.temporalRunId);
      expect(await historyHas(workflowId, 'timerStartedEventAttributes')).toBe(true);
    } finally {
      await stack.client.workflow
        .getHandle(workflowId)
        .terminate('test over')
        .catch(() => undefined);
      await worker.stop();
    }
  });

  it('a worker that stops is missed once its last long poll has ended; one coming back resolves the incident', async () => {
    const queue = stack.config.temporal.taskQueue;
    let worker = await startRunQueueWorker(before);
    await delay(2_000);
    await worker.stop();
    const stoppedAt = Date.now();
    const missed = await waitForIncidentAbout(app, 'no_pollers', queue, (i) => i.state !== 'resolved', 'open', 150_000);
    // Temporal's long poll (about a minute) plus afterMs, plus a tick or two.
    expect(Date.now() - stoppedAt).toBeGreaterThan(60_000);
    expect(missed.summary).toContain('has had no poll for');
    worker = await startRunQueueWorker(before);
    try {
      const resolved = await waitForIncidentAbout(
        app,
        'no_pollers',
        queue,
        (i) => i.state === 'resolved' && i.incidentId === missed.incidentId,
        'resolved',
        30_000,
      );
      expect(resolved.resolution).toBe('evidence_cleared');
    } finally {
      await worker.stop();
    }
  }, 240_000);
});
