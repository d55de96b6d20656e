/**
 * The run as its memo carries it (docs/architecture.md, Processes). Pure, so the workflow and the API build
 * and read it alike.
 */
import { taskStates, type BackgroundTaskDocument, type TaskState } from '../tasks';
import type { RunDocument } from './document';

/** How many of a run's tasks are in each state, and what they have paid in all. */
export interface RunTaskCounts {
  total: number;
  byState: Record<TaskState, number>;
  costMicroUsd: number;
}

/**
 * The run as its memo carries it: everything but the output and the per-task documents, which
 * would make every memo upsert (and so the history) grow with the number of tasks. Task detail
 * lives in each task child's memo, the run's state query and its result.
 */
export type RunSummary = Omit<RunDocument, 'output' | 'backgroundTasks'> & { backgroundTaskCounts: RunTaskCounts };

export function runTaskCountsOf(tasks: readonly Pick<BackgroundTaskDocument, 'state' | 'costMicroUsd'>[]): RunTaskCounts {
  const byState = Object.fromEntries(taskStates.map((state) => [state, 0])) as Record<TaskState, number>;
  let costMicroUsd = 0;
  for (const task of tasks) {
    byState[task.state] += 1;
    costMicroUsd += task.costMicroUsd;
  }
  return { total: tasks.length, byState, costMicroUsd };
}

/** The memo summary of a run document. */
export function runSummaryOf(run: RunDocument): RunSummary {
  const { output: _output, backgroundTasks, ...rest } = run;
  return { ...rest, backgroundTaskCounts: runTaskCountsOf(backgroundTasks) };
}

/** Whether a run memo is a summary (else it is a whole document, as runs recorded before summaries wrote it). */
export function isRunSummary(memo: RunDocument | RunSummary): memo is RunSummary {
  return 'backgroundTaskCounts' in memo && !('backgroundTasks' in memo);
}

/**
 * A run summary read back as a document whose task list is unknown (empty): what the API shows
 * when nothing more complete (the run's query, result or failure) can be had.
 */
export function documentOfSummary(summary: RunSummary): RunDocument {
  const { backgroundTaskCounts: _counts, ...rest } = summary;
  return { ...rest, backgroundTasks: [] };
}
