/** A task id names its run: `<runId>-<n>`, n counting the run's tasks from 1 in creation order. */
export const backgroundTaskId = (runId: string, sequence: number): string => `${runId}-${sequence}`;
export function runIdOfTask(taskId: string): string | undefined {
  return /^(.+)-([1-9][0-9]*)$/.exec(taskId)?.[1];
}
