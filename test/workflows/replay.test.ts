import fs from 'node:fs';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { runMemoKey, type incidentMemoKey, type taskMemoKey } from '../../src/temporal/contracts';
import { workflowBundle } from '../support/temporal';

/**
 * Histories recorded from real runs (test/workflows/record-histories.ts) replayed on the current
 * workflow code: a change that would break runs already in flight fails here, naming the path.
 */
type History = temporal.api.history.v1.IHistory;

const historiesDir = path.join(__dirname, 'histories');

/**
 * Every recorded path, what its run (or, for a task's child workflow, the task) ended as, and the
 * attempt the provider call succeeded or stopped on.
 */
const recordedPaths: Record<
  string,
  {
    /** What the last published memo document holds; absent for a workflow that publishes none (the supervisor). */
    document?: Record<string, unknown>;
    providerAttempt?: number;
    memoKey?: typeof runMemoKey | typeof taskMemoKey | typeof incidentMemoKey;
  }
> = {
  succeeded: { document: { state: 'succeeded', usage: expect.objectContaining({ estimated: false }) }, providerAttempt: 1 },
  'denied-by-budget': { document: { state: 'denied', error: expect.objectContaining({ code: 'budget_exceeded' }) } },
  clamped: { document: { state: 'succeeded', admission: expect.objectContaining({ clamped: true }) }, providerAttempt: 1 },
  'cancelled-mid-stream': {
    document: { state: 'cancelled', usage: expect.objectContaining({ estimated: true }) },
    providerAttempt: 1,
  },
  'approval-approved': {
    document: { state: 'succeeded', approval: expect.objectContaining({ decision: 'approve' }) },
    providerAttempt: 1,
  },
  'approval-denied': { document: { state: 'denied', error: expect.objectContaining({ code: 'approval_denied' }) } },
  'approval-timed-out': { document: { state: 'denied', error: expect.objectContaining({ code: 'approval_timeout' }) } },
  'provider-retry-succeeded': { document: { state: 'succeeded' }, providerAttempt: 3 },
  'unknown-provider-failed': {
    document: { state: 'failed', error: expect.objectContaining({ code: 'unknown_provider' }) },
    providerAttempt: 1,
  },
  // Recorded under the exact-money-1 patch: a cut stream charged and retried; a retry refused by the budget.
  'stream-cut-retried': {
    document: { state: 'succeeded', chargedAttempts: [expect.objectContaining({ attempt: 1 })] },
    providerAttempt: 2,
  },
  'retry-refused-by-budget': {
    document: {
      state: 'failed',
      error: expect.objectContaining({ code: 'budget_exceeded' }),
      chargedAttempts: [expect.objectContaining({ attempt: 1 }), expect.objectContaining({ attempt: 2 })],
    },
    providerAttempt: 3,
  },
  'with-background-tasks': {
    document: {
      state: 'succeeded',
      backgroundTasks: [
        expect.objectContaining({ kind: 'summary', state: 'succeeded' }),
        expect.objectContaining({ kind: 'classification', state: 'succeeded' }),
        expect.objectContaining({ kind: 'extraction', state: 'succeeded', attempt: 2 }),
      ],
    },
    providerAttempt: 1,
  },
  // Recorded under the run-summary-memo-1 patch: the memo is a summary with task counts, no task list.
  'summary-memo-with-background-tasks': {
    document: {
      state: 'succeeded',
      backgroundTaskCounts: expect.objectContaining({ total: 4, byState: expect.objectContaining({ succeeded: 4 }) }),
    },
    providerAttempt: 1,
  },
  'background-tasks-cancelled': {
    document: {
      state: 'cancelled',
      backgroundTasks: [
        expect.objectContaining({ state: 'cancelled', dispatches: 1 }),
        expect.objectContaining({ state: 'cancelled', dispatches: 0 }),
      ],
    },
    providerAttempt: 1,
  },
  // Recorded under run-continue-as-new-1: the first execution hands over while its tasks wait on a
  // retry (its last memo shows the run still running), and the continued one finishes the run
  // without calling the provider again.
  'continued-as-new-first-execution': {
    document: {
      state: 'running',
      backgroundTaskCounts: expect.objectContaining({ total: 2, byState: expect.objectContaining({ succeeded: 1, failed: 1 }) }),
    },
    providerAttempt: 1,
  },
  'continued-as-new': {
    document: {
      state: 'succeeded',
      backgroundTaskCounts: expect.objectContaining({ total: 2, byState: expect.objectContaining({ succeeded: 1, failed: 1 }) }),
    },
  },
  // Child workflows: the task's memo; each attempt is one provider call (attempt 1 of its own).
  'background-task-retried': { memoKey: 'task', document: { state: 'succeeded', attempt: 2 }, providerAttempt: 1 },
  'background-task-cancelled': { memoKey: 'task', document: { state: 'cancelled', attempt: 1 }, providerAttempt: 1 },
  // Self-healing (test/workflows/record-incident-histories.ts).
  'incident-paged-then-cleared': {
    memoKey: 'incident',
    document: {
      state: 'resolved',
      resolution: 'evidence_cleared',
      attempts: [expect.objectContaining({ remediationId: 'page', status: 'succeeded' })],
    },
  },
  'incident-approved-evidence-gone': {
    memoKey: 'incident',
    document: {
      state: 'resolved',
      resolution: 'evidence_cleared',
      attempts: [expect.objectContaining({ remediationId: 'deny_approval', status: 'skipped', by: 'alice' })],
    },
  },
  'incident-rejected-by-signal': {
    memoKey: 'incident',
    document: { state: 'resolved', resolution: 'rejected', attempts: [] },
  },
  'supervisor-tick': {},
};

const recordedFiles = fs
  .readdirSync(historiesDir)
  .filter((file) => file.endsWith('.json'))
  .map((file) => path.basename(file, '.json'))
  .sort();

const readHistoryJson = (name: string): { events: Record<string, unknown>[] } =>
  JSON.parse(fs.readFileSync(path.join(historiesDir, `${name}.json`), 'utf8'));

/** The last document the workflow published under `memoKey`, decoded from the history. */
function lastPublishedDocument(history: History, memoKey: string): Record<string, unknown> | undefined {
  const payload = (history.events ?? [])
    .map((event) => event.workflowPropertiesModifiedEventAttributes?.upsertedMemo?.fields?.[memoKey])
    .filter((field) => field != null)
    .at(-1);
  return payload ? defaultPayloadConverter.fromPayload<Record<string, unknown>>(payload) : undefined;
}

/** The attempt of the provider call's last start, or undefined when the run never called the provider. */
function lastProviderAttempt(history: History): number | undefined {
  const providerCalls = new Set(
    (history.events ?? [])
      .filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'invokeProvider')
      .map((event) => String(event.eventId)),
  );
  const attempt = (history.events ?? [])
    .map((event) => event.activityTaskStartedEventAttributes)
    .filter((started) => started != null && providerCalls.has(String(started.scheduledEventId)))
    .at(-1)?.attempt;
  return attempt ?? undefined;
}

/** A copy of a history whose first activity was scheduled under another name: no code can replay it. */
function withRenamedFirstActivity(name: string): History {
  const json = readHistoryJson(name);
  const scheduled = json.events.find((event) => event.activityTaskScheduledEventAttributes) as {
    activityTaskScheduledEventAttributes: { activityType: { name: string } };
  };
  scheduled.activityTaskScheduledEventAttributes.activityType.name = 'anActivityTheWorkflowNeverCalls';
  return historyFromJSON(json);
}

function describeReplayFailure(label: string, error: Error): string {
  return (
    `history ${label} no longer replays on the current workflow code: ${error.name}: ${error.message}\n` +
    'Runs like it may still be open. Make the change replay-compatible (patched()/deprecatePatch()) ' +
    'instead of re-recording the history.'
  );
}

const tamperedLabel = 'succeeded.json with its first activity renamed';
const histories = new Map<string, History>(recordedFiles.map((name) => [name, historyFromJSON(readHistoryJson(name))]));
const replayErrors = new Map<string, Error | undefined>();

beforeAll(async () => {
  const inputs = [
    ...[...histories].map(([name, history]) => ({ workflowId: `${name}.json`, history })),
    { workflowId: tamperedLabel, history: withRenamedFirstActivity('succeeded') },
  ];
  const replay = Worker.runReplayHistories({ workflowBundle: await workflowBundle(), replayName: 'palyra-replay' }, inputs);
  for await (const result of replay) replayErrors.set(result.workflowId, result.error);
}, 120_000);

describe('recorded run histories', () => {
  it('cover every run path, one file each', () => {
    expect(recordedFiles).toEqual(Object.keys(recordedPaths).sort());
  });

  it.each(recordedFiles)('%s is the path it is named after', (name) => {
    const history = histories.get(name) as History;
    const expected = recordedPaths[name];
    expect(expected).toBeDefined();
    if (expected?.document) {
      expect(lastPublishedDocument(history, expected.memoKey ?? runMemoKey)).toMatchObject(expected.document);
    } else {
      expect(lastPublishedDocument(history, runMemoKey)).toBeUndefined();
    }
    expect(lastProviderAttempt(history)).toBe(expected?.providerAttempt);
  });

  it.each(recordedFiles)('%s replays on the current workflow code', (name) => {
    expect(replayErrors.has(`${name}.json`)).toBe(true);
    const error = replayErrors.get(`${name}.json`);
    if (error) throw new Error(describeReplayFailure(`test/workflows/histories/${name}.json`, error));
  });

  it('detects a history the workflow code does not produce, as a determinism violation naming it', () => {
    const error = replayErrors.get(tamperedLabel);
    expect(error).toBeInstanceOf(DeterminismViolationError);
    expect(error?.message).toMatch(/anActivityTheWorkflowNeverCalls/);
    expect(describeReplayFailure(tamperedLabel, error as Error)).toContain(`history ${tamperedLabel} no longer replays`);
  });
});
