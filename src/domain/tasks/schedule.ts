import { holdsChildSlot, type TaskState } from './task-state';

/** What the scheduler needs to know of a task (a subset of the task document). */
export interface SchedulableTask {
  taskId: string;
  state: TaskState;
  /** -10..10; higher starts first. */
  priority: number;
  /** Creation order within the run: the tie-breaker after priority. */
  sequence: number;
  /** Epoch ms before which the task must not start. */
  notBeforeMs?: number;
  /** Epoch ms by which the task must have started, or it expires. */
  expiresAtMs?: number;
}

export interface DispatchPlan {
  /** Queued tasks whose start deadline has passed: they end `expired` without ever starting. */
  expire: string[];
  /** Tasks to start now, in start order. */
  start: string[];
  /** When the plan can next change by the clock alone (a `notBefore` or an expiry), in epoch ms. */
  wakeAtMs?: number;
}

/**
 * Decides which queued tasks expire and which start now: at most `maxConcurrent` children run at
 * once; ready tasks (past `notBefore`) start in priority order, then creation order. A task whose
 * `expiresAt` has come is expired before it can be started, even when a slot is free.
 */
export function planDispatch(
  tasks: readonly SchedulableTask[],
  { nowMs, maxConcurrent, dispatchOpen }: { nowMs: number; maxConcurrent: number; dispatchOpen: boolean },
): DispatchPlan {
  const expire: string[] = [];
  const ready: SchedulableTask[] = [];
  let wakeAtMs: number | undefined;
  const wakeAt = (ms: number) => {
    wakeAtMs = wakeAtMs === undefined ? ms : Math.min(wakeAtMs, ms);
  };
  for (const task of tasks) {
    if (task.state !== 'queued' && task.state !== 'paused') continue;
    if (task.expiresAtMs !== undefined && task.expiresAtMs <= nowMs) {
      expire.push(task.taskId);
      continue;
    }
    if (task.expiresAtMs !== undefined) wakeAt(task.expiresAtMs);
    if (task.state !== 'queued') continue;
    if (task.notBeforeMs !== undefined && task.notBeforeMs > nowMs) {
      wakeAt(task.notBeforeMs);
      continue;
    }
    ready.push(task);
  }
  const running = tasks.filter((task) => holdsChildSlot(task.state)).length;
  const free = dispatchOpen ? Math.max(0, maxConcurrent - running) : 0;
  const start = ready
    .sort((a, b) => b.priority - a.priority || a.sequence - b.sequence)
    .slice(0, free)
    .map((task) => task.taskId);
  return { expire, start, ...(wakeAtMs !== undefined ? { wakeAtMs } : {}) };
}

/** The wait before attempt `attempt + 1` after attempt `attempt` failed: doubling, capped. */
export function retryDelayMs(attempt: number, { initialMs, maximumMs }: { initialMs: number; maximumMs: number }): number {
  return Math.min(maximumMs, initialMs * 2 ** Math.max(0, attempt - 1));
}
