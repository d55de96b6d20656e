/**
 * Workflow types and ids: the business ids every process agrees on.
 * Part of the contracts (see index.ts): bundled into workflow code, so no Node built-ins or I/O.
 */

export const runWorkflowType = 'runWorkflow';
export const runWorkflowId = (runId: string): string => `run-${runId}`;
/**
 * One reservation per run, keyed by the run, so a retried admission or settlement books once. An
 * approved run reserves again under its own id (the first, refused one stays on record).
 */
export const runReservationId = (runId: string, approved = false): string => `run-${runId}${approved ? ':approved' : ''}`;

export const backgroundTaskWorkflowType = 'backgroundTaskWorkflow';
export const backgroundTaskWorkflowId = (taskId: string): string => `bgtask-${taskId}`;
/** Task ids (`<runId>-<n>`) are the domain's; every process agrees on them. */
export { backgroundTaskId, runIdOfTask } from '../../domain/tasks';
/**
 * The ledger key of one attempt of a task (its routing decision, reservation and failed provider
 * attempts): every dispatch (the first, and each operator retry) and every attempt books apart.
 */
export const taskAttemptBookingId = (taskId: string, dispatch: number, attempt: number): string =>
  `bgtask-${taskId}:${dispatch}.${attempt}`;
