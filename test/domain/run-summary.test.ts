import { documentOfSummary, isRunSummary, runSummaryOf, type RunDocument } from '../../src/domain/runs';
import type { BackgroundTaskDocument, TaskState } from '../../src/domain/tasks';

const task = (sequence: number, state: TaskState, costMicroUsd: number): BackgroundTaskDocument => ({
  taskId: `r-${sequence}`,
  runId: 'r',
  kind: 'summary',
  state,
  attempt: 1,
  maxAttempts: 3,
  priority: 0,
  sequence,
  model: { requested: null, selected: 'sim-small' },
  costMicroUsd,
  result: 'a long answer '.repeat(30),
  dispatches: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
});

const run = (backgroundTasks: BackgroundTaskDocument[], extra: Partial<RunDocument> = {}): RunDocument => ({
  runId: 'r',
  tenantId: 'acme',
  principalId: 'svc',
  state: 'running',
  model: { requested: null, selected: 'sim-standard' },
  usage: { inputTokens: 10, outputTokens: 2, estimated: false },
  costMicroUsd: 42,
  backgroundTasks,
  createdAt: '2026-01-01T00:00:00.000Z',
  ...extra,
});

const zeroCounts: Record<TaskState, number> = {
  queued: 0,
  paused: 0,
  running: 0,
  cancel_requested: 0,
  succeeded: 0,
  failed: 0,
  cancelled: 0,
  expired: 0,
};

describe('runSummaryOf', () => {
  it.each([
    ['no tasks', [], { total: 0, byState: zeroCounts, costMicroUsd: 0 }],
    [
      'tasks in several states',
      [task(1, 'succeeded', 7), task(2, 'succeeded', 5), task(3, 'running', 1), task(4, 'queued', 0), task(5, 'failed', 3)],
      { total: 5, byState: { ...zeroCounts, succeeded: 2, running: 1, queued: 1, failed: 1 }, costMicroUsd: 16 },
    ],
    [
      '200 tasks',
      Array.from({ length: 200 }, (_, i) => task(i + 1, i % 4 === 0 ? 'expired' : 'succeeded', i % 4 === 0 ? 0 : 2)),
      { total: 200, byState: { ...zeroCounts, expired: 50, succeeded: 150 }, costMicroUsd: 300 },
    ],
  ])('counts %s by state, with their total cost', (_label, tasks, counts) => {
    expect(runSummaryOf(run(tasks)).backgroundTaskCounts).toEqual(counts);
  });

  it('keeps every run field but the output and the task list', () => {
    const document = run([task(1, 'succeeded', 7)], {
      output: 'the answer',
      error: { code: 'x', message: 'y' },
      backgroundTasksCostMicroUsd: 7,
      finishedAt: '2026-01-01T00:01:00.000Z',
    });
    const summary = runSummaryOf(document);
    const { output: _output, backgroundTasks: _tasks, ...rest } = document;
    expect(summary).toEqual({ ...rest, backgroundTaskCounts: expect.any(Object) });
    expect(summary).not.toHaveProperty('output');
    expect(summary).not.toHaveProperty('backgroundTasks');
  });

  it('has a size that does not grow with the number of tasks', () => {
    const size = (n: number) =>
      JSON.stringify(runSummaryOf(run(Array.from({ length: n }, (_, i) => task(i + 1, 'succeeded', 1))))).length;
    // Only the digits of the total, the succeeded count and the cost grow (1 → 200).
    expect(size(200)).toBeLessThanOrEqual(size(1) + 6);
  });
});

describe('reading a run memo of either shape', () => {
  it.each([
    ['a summary', runSummaryOf(run([task(1, 'queued', 0)])), true],
    ['a whole document (runs recorded before summaries)', run([task(1, 'queued', 0)]), false],
    ['a whole document without tasks', run([]), false],
  ])('tells %s apart', (_label, memo, summary) => {
    expect(isRunSummary(memo)).toBe(summary);
  });

  it('reads a summary back as a document with no task list', () => {
    const document = run([task(1, 'running', 3)], { backgroundTasksCostMicroUsd: 3 });
    const { backgroundTasks: _tasks, ...rest } = document;
    expect(documentOfSummary(runSummaryOf(document))).toEqual({ ...rest, backgroundTasks: [] });
  });
});
