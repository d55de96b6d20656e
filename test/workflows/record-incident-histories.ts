/**
 * Records the incident and supervisor workflow histories for test/workflows/replay.test.ts:
 *
 *   npx tsx test/workflows/record-incident-histories.ts [--overwrite] [path ...]
 *
 * Like record-histories.ts (same rules: recorded files stand for workflows that may still be open),
 * against a dev server of its own, with the supervisor worker over a fresh SQLite ledger. The run
 * queue is left unpolled, so the `no_pollers` problem is real and its page really goes out.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { offerRemediation, type Finding, type IncidentDocument, type SelfHealingMode } from '../../src/domain/self-healing';
import {
  incidentClearedSignal,
  incidentDecideSignal,
  incidentDecideUpdate,
  incidentObservedSignal,
  incidentStateQuery,
  incidentWorkflowType,
  supervisorWorkflowType,
  type IncidentWorkflowInput,
} from '../../src/temporal/contracts';
import { supervisorWorkflowInput } from '../../src/temporal/supervisor-schedule';
import { approvalWaitingFinding } from '../support/incident-findings';
import { openTestLedger } from '../support/ledger';
import { startSupervisorTestWorker, testConfig } from '../support/temporal';
import { isKept, withRecordingServer, writeHistory } from './record-histories';

interface IncidentScenario {
  name: string;
  /** Opens the incident (or starts the workflow) and drives it to its end; returns its workflow id. */
  drive(context: { client: Client; config: ReturnType<typeof testConfig> }): Promise<string>;
}

const at = () => new Date().toISOString();

async function openIncident(client: Client, taskQueue: string, incidentId: string, finding: Finding, mode: SelfHealingMode) {
  const openedAt = at();
  const input: IncidentWorkflowInput = { incidentId, finding, mode, openedAt };
  return client.workflow.signalWithStart(incidentWorkflowType, {
    workflowId: incidentId,
    taskQueue,
    args: [input],
    signal: incidentObservedSignal,
    signalArgs: [{ finding, mode, at: openedAt }],
  });
}

async function until(
  handle: { query: (q: typeof incidentStateQuery) => Promise<IncidentDocument> },
  predicate: (doc: IncidentDocument) => boolean,
) {
  for (let i = 0; i < 200; i++) {
    const doc = await handle.query(incidentStateQuery).catch(() => undefined);
    if (doc && predicate(doc)) return doc;
    await delay(100);
  }
  throw new Error('the incident never reached the state the scenario waits for');
}

const scenarios: IncidentScenario[] = [
  {
    // auto: the page goes out (the run queue really has no poller), the incident watches; the evidence clears.
    name: 'incident-paged-then-cleared',
    async drive({ client, config }) {
      const queue = config.temporal.taskQueue;
      const finding: Finding = {
        detector: 'no_pollers',
        dedupeKey: queue,
        severity: 'critical',
        summary: `task queue ${queue} has never been polled (threshold 1 s): no worker is running runs`,
        subject: { kind: 'task_queue', id: queue },
        evidence: { taskQueue: queue, pollers: 0, afterMs: 1_000 },
        remediation: offerRemediation('page', { taskQueue: queue }, 'auto'),
      };
      const handle = await openIncident(client, config.temporal.supervisorTaskQueue, 'incident-recorded-paged', finding, 'auto');
      await until(handle, (doc) => doc.attempts.length > 0 && doc.state === 'open');
      await handle.signal(incidentObservedSignal, { finding, mode: 'auto', at: at() });
      await handle.signal(incidentClearedSignal, { at: at(), detail: 'no_pollers no longer finds it' });
      await handle.result();
      return handle.workflowId;
    },
  },
  {
    // observe_only: awaiting approval; approved through the update; the re-check finds the run gone: skipped.
    name: 'incident-approved-evidence-gone',
    async drive({ client, config }) {
      const handle = await openIncident(
        client,
        config.temporal.supervisorTaskQueue,
        'incident-recorded-approved',
        approvalWaitingFinding('acme'),
        'observe_only',
      );
      await until(handle, (doc) => doc.state === 'awaiting_approval');
      await handle.executeUpdate(incidentDecideUpdate, { args: [{ action: 'approve', by: 'alice', note: 'deny it' }] });
      await handle.result();
      return handle.workflowId;
    },
  },
  {
    // A decide signal as from the Temporal CLI: an illegal one ignored, then reject; quiet until the evidence clears.
    name: 'incident-rejected-by-signal',
    async drive({ client, config }) {
      const handle = await openIncident(
        client,
        config.temporal.supervisorTaskQueue,
        'incident-recorded-rejected',
        approvalWaitingFinding('acme'),
        'observe_only',
      );
      await until(handle, (doc) => doc.state === 'awaiting_approval');
      await handle.signal(incidentDecideSignal, { action: 'retry', by: 'bob' });
      await handle.signal(incidentDecideSignal, { action: 'reject', by: 'bob', note: 'expected: the approver is on leave' });
      await until(handle, (doc) => doc.state === 'resolved');
      await handle.signal(incidentClearedSignal, { at: at(), detail: 'approval_waiting no longer finds it' });
      await handle.result();
      return handle.workflowId;
    },
  },
  {
    // One supervisor tick as the schedule starts it: evidence, detectors, reports (no_pollers found).
    name: 'supervisor-tick',
    async drive({ client, config }) {
      const handle = await client.workflow.start(supervisorWorkflowType, {
        workflowId: 'palyra-supervisor-recorded',
        taskQueue: config.temporal.supervisorTaskQueue,
        args: [supervisorWorkflowInput(config)],
      });
      // The no_pollers incident it opens pages and stays open; it is not part of this recording.
      await handle.result();
      return handle.workflowId;
    },
  },
];

async function main() {
  const args = process.argv.slice(2);
  const overwrite = args.includes('--overwrite');
  const wanted = args.filter((a) => !a.startsWith('--'));
  const selected = scenarios.filter((s) => (wanted.length === 0 || wanted.includes(s.name)) && !isKept(s.name, overwrite));
  if (selected.length === 0) return;
  await withRecordingServer(async (client) => {
    const ledger = await openTestLedger('sqlite');
    const config = testConfig({ selfHealing: { mode: 'auto', detectors: { no_pollers: { afterMs: 1_000 } } } });
    const worker = await startSupervisorTestWorker(config, ledger.repo);
    try {
      for (const scenario of selected) {
        const workflowId = await scenario.drive({ client, config });
        const file = await writeHistory(client, workflowId, scenario.name);
        process.stdout.write(`recorded ${path.relative(process.cwd(), file)} (${fs.statSync(file).size} bytes)\n`);
      }
    } finally {
      await worker.stop();
      await ledger.close();
    }
  });
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exitCode = 1;
});
