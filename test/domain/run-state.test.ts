import { canTransitionRun, isTerminalRunState, runStates, type RunState } from '../../src/domain/run-state';

describe('run state machine', () => {
  it.each<[RunState, RunState, boolean]>([
    ['queued', 'running', true],
    ['queued', 'awaiting_approval', true],
    ['queued', 'denied', true],
    ['awaiting_approval', 'running', true],
    ['awaiting_approval', 'denied', true],
    ['running', 'succeeded', true],
    ['running', 'failed', true],
    ['running', 'cancelled', true],
    ['running', 'queued', false],
    ['running', 'awaiting_approval', false],
    ['queued', 'succeeded', false],
    ['succeeded', 'failed', false],
    ['cancelled', 'running', false],
    ['denied', 'running', false],
  ])('%s -> %s allowed: %s', (from, to, allowed) => {
    expect(canTransitionRun(from, to)).toBe(allowed);
  });

  it('has no way out of a terminal state', () => {
    for (const from of runStates.filter(isTerminalRunState)) {
      expect(runStates.filter((to) => canTransitionRun(from, to))).toEqual([]);
    }
  });
});
