import {
  operatorActionRefusal,
  planDispatch,
  retryDelayMs,
  taskClassOf,
  taskMessages,
  taskNeedsJson,
  taskTimingProblems,
  type SchedulableTask,
  type TaskInput,
  type TaskOperatorAction,
  type TaskState,
} from '../../src/domain/tasks';

const at = (iso: string) => Date.parse(iso);
const now = at('2026-11-28T12:00:00Z');
const queued = (taskId: string, priority: number, sequence: number, extra: Partial<SchedulableTask> = {}): SchedulableTask => ({
  taskId,
  state: 'queued',
  priority,
  sequence,
  ...extra,
});

describe('planDispatch', () => {
  it('starts ready tasks by priority (higher first), then creation order, up to the free slots', () => {
    const tasks = [queued('a', 0, 1), queued('b', 5, 2), queued('c', -3, 3), queued('d', 5, 4)];
    expect(planDispatch(tasks, { nowMs: now, maxConcurrent: 1, dispatchOpen: true }).start).toEqual(['b']);
    expect(planDispatch(tasks, { nowMs: now, maxConcurrent: 3, dispatchOpen: true }).start).toEqual(['b', 'd', 'a']);
    expect(planDispatch(tasks, { nowMs: now, maxConcurrent: 10, dispatchOpen: true }).start).toEqual(['b', 'd', 'a', 'c']);
  });

  it('counts running and cancel_requested tasks against the limit', () => {
    const tasks = [
      { ...queued('r', 0, 1), state: 'running' as TaskState },
      { ...queued('x', 0, 2), state: 'cancel_requested' as TaskState },
      queued('q', 0, 3),
    ];
    expect(planDispatch(tasks, { nowMs: now, maxConcurrent: 2, dispatchOpen: true }).start).toEqual([]);
    expect(planDispatch(tasks, { nowMs: now, maxConcurrent: 3, dispatchOpen: true }).start).toEqual(['q']);
  });

  it('starts nothing before the run opens dispatch (it is not admitted yet)', () => {
    expect(planDispatch([queued('a', 0, 1)], { nowMs: now, maxConcurrent: 4, dispatchOpen: false }).start).toEqual([]);
  });

  it('holds a task until its notBefore and wakes up then', () => {
    const later = at('2026-11-28T13:00:00Z');
    const plan = planDispatch([queued('a', 9, 1, { notBeforeMs: later }), queued('b', 0, 2)], {
      nowMs: now,
      maxConcurrent: 4,
      dispatchOpen: true,
    });
    expect(plan).toEqual({ expire: [], start: ['b'], wakeAtMs: later });
  });

  it('expires a queued or paused task at its expiresAt even when a slot is free, and wakes for the next expiry', () => {
    const soon = at('2026-11-28T12:30:00Z');
    const plan = planDispatch(
      [
        queued('gone', 0, 1, { expiresAtMs: now }),
        { ...queued('paused-gone', 0, 2, { expiresAtMs: now - 1 }), state: 'paused' },
        queued('waits', 0, 3, { notBeforeMs: soon + 60_000, expiresAtMs: soon + 120_000 }),
        { ...queued('paused', 0, 4, { expiresAtMs: soon }), state: 'paused' },
      ],
      { nowMs: now, maxConcurrent: 4, dispatchOpen: true },
    );
    expect(plan).toEqual({ expire: ['gone', 'paused-gone'], start: [], wakeAtMs: soon });
  });

  it('leaves running and ended tasks alone (a running task stops at its expiry by itself)', () => {
    const tasks = (['running', 'succeeded', 'failed', 'cancelled', 'expired'] as TaskState[]).map((state, i) => ({
      ...queued(state, 0, i, { expiresAtMs: now - 1 }),
      state,
    }));
    expect(planDispatch(tasks, { nowMs: now, maxConcurrent: 9, dispatchOpen: true })).toEqual({ expire: [], start: [] });
  });
});

describe('operatorActionRefusal', () => {
  const table: [TaskOperatorAction, TaskState, boolean][] = [
    ['pause', 'queued', true],
    ['pause', 'running', false],
    ['pause', 'paused', false],
    ['resume', 'paused', true],
    ['resume', 'queued', false],
    ['retry', 'failed', true],
    ['retry', 'cancelled', true],
    ['retry', 'expired', true],
    ['retry', 'succeeded', false],
    ['retry', 'running', false],
    ['cancel', 'queued', true],
    ['cancel', 'paused', true],
    ['cancel', 'running', true],
    ['cancel', 'cancel_requested', false],
    ['cancel', 'succeeded', false],
  ];
  it.each(table)('%s from %s allowed: %s', (action, state, allowed) => {
    const refusal = operatorActionRefusal('run-1', action, state);
    if (allowed) expect(refusal).toBeUndefined();
    else expect(refusal).toContain(`is ${state}`);
  });

  it('says which states the action needs', () => {
    expect(operatorActionRefusal('t-1', 'retry', 'succeeded')).toBe(
      'task t-1 is succeeded; retry is only possible from failed, cancelled, expired',
    );
  });
});

describe('retryDelayMs', () => {
  it.each([
    [1, 1_000],
    [2, 2_000],
    [3, 4_000],
    [6, 32_000],
    [7, 60_000],
    [16, 60_000],
  ])('after attempt %i waits %i ms', (attempt, expected) => {
    expect(retryDelayMs(attempt, { initialMs: 1_000, maximumMs: 60_000 })).toBe(expected);
  });
});

describe('taskTimingProblems', () => {
  it('accepts a future window and no window at all', () => {
    expect(taskTimingProblems({}, now)).toEqual([]);
    expect(taskTimingProblems({ notBeforeMs: now + 1, expiresAtMs: now + 2 }, now)).toEqual([]);
  });
  it('names an expiresAt that is not in the future', () => {
    expect(taskTimingProblems({ expiresAtMs: now }, now)).toEqual([
      { field: 'expiresAt', message: expect.stringContaining('is not in the future') },
    ]);
  });
  it('names a notBefore at or after expiresAt', () => {
    expect(taskTimingProblems({ notBeforeMs: now + 10, expiresAtMs: now + 10 }, now)).toEqual([
      { field: 'notBefore', message: expect.stringContaining('could never start in time') },
    ]);
  });
});

describe('task kinds', () => {
  it('routes side work as auxiliary classes and a delegated run as background automation by default', () => {
    expect(taskClassOf({ kind: 'summary', input: { text: 't' } })).toBe('auxiliary_summary');
    expect(taskClassOf({ kind: 'extraction', input: { text: 't', fields: ['a'] } })).toBe('auxiliary_extraction');
    expect(taskClassOf({ kind: 'classification', input: { text: 't', labels: ['a', 'b'] } })).toBe('auxiliary_classification');
    expect(taskClassOf({ kind: 'delegated_run', input: { messages: [{ role: 'user', content: 'x' }] } })).toBe(
      'background_automation',
    );
    expect(
      taskClassOf({
        kind: 'delegated_run',
        input: { messages: [{ role: 'user', content: 'x' }], taskClass: 'primary_interactive' },
      }),
    ).toBe('primary_interactive');
  });

  it('asks for JSON for an extraction only, naming the fields and labels in the instructions', () => {
    const extraction: TaskInput = { kind: 'extraction', input: { text: 'Ann, 42', fields: ['name', 'age'] } };
    expect(taskNeedsJson(extraction)).toBe(true);
    expect(taskMessages(extraction)[0]!.content).toContain('"name", "age"');
    expect(taskMessages(extraction)[1]).toEqual({ role: 'user', content: 'Ann, 42' });
    const classification: TaskInput = { kind: 'classification', input: { text: 'refund', labels: ['billing', 'support'] } };
    expect(taskNeedsJson(classification)).toBe(false);
    expect(taskMessages(classification)[0]!.content).toContain('"billing", "support"');
    const messages = [{ role: 'user' as const, content: 'draft it' }];
    expect(taskMessages({ kind: 'delegated_run', input: { messages } })).toBe(messages);
  });
});
