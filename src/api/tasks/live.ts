import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { holdsChildSlot, withTaskOutcome } from '../../domain/tasks';
import {
  backgroundTaskWorkflowId,
  taskMemoKey,
  type BackgroundTaskOutcome,
  type BackgroundTaskProgress,
} from '../../temporal/contracts';
import type { TaskView } from './schemas';

export interface TaskFollowerDeps {
  client: Client;
  withDeadline: <T>(call: () => Promise<T>) => Promise<T>;
  link: (workflowId: string, runId: string | null) => TaskView['temporal'];
}

/**
 * Reads a task whose child is running from the child itself: the attempt and cost under way, or,
 * when a detached child outlived its run, how it ended. Any other task is as its run recorded it.
 */
export function createTaskFollower({ client, withDeadline, link }: TaskFollowerDeps) {
  return async function follow(task: TaskView): Promise<TaskView> {
    if (!holdsChildSlot(task.state) || !task.startedAt) return task;
    const handle = client.workflow.getHandle(backgroundTaskWorkflowId(task.taskId));
    const description = await withDeadline(() => handle.describe()).catch((error: unknown) => {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    });
    // Not started yet, or still the previous dispatch's child (this one is about to start).
    if (!description || description.startTime.getTime() < Date.parse(task.startedAt)) return task;
    const temporal = link(task.temporal.workflowId, description.runId);
    if (description.status.name === 'COMPLETED') {
      const outcome = (await withDeadline(() => handle.result())) as BackgroundTaskOutcome;
      const finishedAt = description.closeTime?.toISOString() ?? new Date().toISOString();
      return { ...withTaskOutcome(task, outcome, finishedAt), temporal };
    }
    const progress = description.memo?.[taskMemoKey] as BackgroundTaskProgress | undefined;
    if (!progress || description.status.name !== 'RUNNING') return { ...task, temporal };
    return {
      ...task,
      attempt: progress.attempt,
      costMicroUsd: task.costMicroUsd + progress.costMicroUsd,
      model: { ...task.model, selected: progress.modelId },
      temporal,
    };
  };
}
