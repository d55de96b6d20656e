/**
 * The run state machine (docs/architecture.md, Runs). Pure: workflows and the API both use it to decide
 * whether a transition is legal, so an illegal jump is caught the same way everywhere.
 */
export const runStates = ['queued', 'awaiting_approval', 'running', 'succeeded', 'failed', 'cancelled', 'denied'] as const;
export type RunState = (typeof runStates)[number];

export const terminalRunStates: readonly RunState[] = ['succeeded', 'failed', 'cancelled', 'denied'];

const allowedTransitions: Record<RunState, readonly RunState[]> = {
  queued: ['awaiting_approval', 'running', 'failed', 'cancelled', 'denied'],
  awaiting_approval: ['running', 'cancelled', 'denied', 'failed'],
  running: ['succeeded', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
  denied: [],
};

export function isTerminalRunState(state: RunState): boolean {
  return terminalRunStates.includes(state);
}

export function canTransitionRun(from: RunState, to: RunState): boolean {
  return allowedTransitions[from].includes(to);
}

export function assertRunTransition(from: RunState, to: RunState): void {
  if (!canTransitionRun(from, to)) {
    throw new Error(`illegal run transition ${from} -> ${to}`);
  }
}
