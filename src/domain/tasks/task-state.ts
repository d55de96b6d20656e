/**
 * The background-task state machine (docs/architecture.md, Background tasks). Pure: the run workflow (which schedules
 * tasks) and the API (which answers operator actions) decide legality the same way.
 */
export const taskStates = [
  'queued',
  'paused',
  'running',
  'cancel_requested',
  'succeeded',
  'failed',
  'cancelled',
  'expired',
] as const;
export type TaskState = (typeof taskStates)[number];

export const terminalTaskStates: readonly TaskState[] = ['succeeded', 'failed', 'cancelled', 'expired'];

export function isTerminalTaskState(state: TaskState): boolean {
  return terminalTaskStates.includes(state);
}

/** A task still holding a concurrency slot: its child workflow has been started and not yet ended. */
export function holdsChildSlot(state: TaskState): boolean {
  return state === 'running' || state === 'cancel_requested';
}

/** Ended without succeeding: an operator may retry these. */
export const retryableTaskStates: readonly TaskState[] = ['failed', 'cancelled', 'expired'];

export const taskOperatorActions = ['pause', 'resume', 'retry', 'cancel'] as const;
export type TaskOperatorAction = (typeof taskOperatorActions)[number];

/** Which states each operator action may be taken from (docs/architecture.md, Background tasks; issue 5). */
const actionSources: Record<TaskOperatorAction, readonly TaskState[]> = {
  pause: ['queued'],
  resume: ['paused'],
  retry: retryableTaskStates,
  cancel: ['queued', 'paused', 'running'],
};

/** Why `action` cannot be taken on a task in `state`, or undefined when it can. */
export function operatorActionRefusal(taskId: string, action: TaskOperatorAction, state: TaskState): string | undefined {
  if (actionSources[action].includes(state)) return undefined;
  const allowed = actionSources[action].join(', ');
  if (action === 'cancel' && state === 'cancel_requested') {
    return `task ${taskId} is cancel_requested; its cancellation is already under way`;
  }
  return `task ${taskId} is ${state}; ${action} is only possible from ${allowed}`;
}
