import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { PalyraConfig } from '../../config';
import { PalyraError } from '../../domain/errors';
import { isTerminalRunState } from '../../domain/run-state';
import { isTerminalTaskState, operatorActionRefusal, type TaskOperatorAction } from '../../domain/tasks';
import {
  backgroundTaskWorkflowId,
  runAddTasksUpdate,
  runIdOfTask,
  runWorkflowId,
  taskControlUpdate,
  taskMemoKey,
  withTaskOutcome,
  type BackgroundTaskOutcome,
  type BackgroundTaskProgress,
} from '../../temporal/contracts';
import type { Principal } from '../plugins/auth';
import type { RunService } from '../runs/service';
import type { AddTasksBody, TaskActionBody, TaskView } from './schemas';
import { resolveTaskSpecs } from './specs';

export interface TaskServiceDeps {
  client: Client;
  config: PalyraConfig;
  runs: RunService;
  now?: () => Date;
}

export type TaskService = ReturnType<typeof createTaskService>;

/**
 * Background tasks through their run: the run workflow owns every task's state, so reads come from
 * the run document and actions go to the run as updates (whose validators refuse illegal
 * transitions). A task whose child is running is read live from the child's memo.
 */
export function createTaskService({ client, config, runs, now = () => new Date() }: TaskServiceDeps) {
  /** The task and its run's state; 404 for a task (or run) this token cannot see. */
  async function locate(principal: Principal, taskId: string) {
    const notFound = () => new PalyraError('not_found', `task ${taskId} not found`);
    const runId = runIdOfTask(taskId);
    if (!runId) throw notFound();
    const run = await runs.get(principal, runId).catch((error: unknown) => {
      if (error instanceof PalyraError && error.code === 'not_found') throw notFound();
      throw error;
    });
    const task = run.backgroundTasks.find((candidate) => candidate.taskId === taskId);
    if (!task) throw notFound();
    return { run, task };
  }

  /**
   * A dispatched task that has not ended in its run's record is read from its child: the attempt
   * and cost under way, or, when a detached child outlived its run, how it ended.
   */
  async function live(task: TaskView): Promise<TaskView> {
    if (isTerminalTaskState(task.state) || task.dispatches === 0) return task;
    const handle = client.workflow.getHandle(backgroundTaskWorkflowId(task.taskId));
    const description = await runs
      .withDeadline(() => handle.describe())
      .catch((error: unknown) => {
        if (error instanceof WorkflowNotFoundError) return undefined;
        throw error;
      });
    if (!description) return task;
    const temporal = runs.link(task.temporal.workflowId, description.runId);
    if (description.status.name === 'COMPLETED') {
      const outcome = (await runs.withDeadline(() => handle.result())) as BackgroundTaskOutcome;
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
  }

  async function get(principal: Principal, taskId: string): Promise<TaskView> {
    const { task } = await locate(principal, taskId);
    return live(task);
  }

  /**
   * An operator action, taken by the run workflow. 409 naming the task's state when the action is
   * illegal from it, or when the run has ended (its tasks can then only be cancelled, if detached).
   */
  async function act(principal: Principal, taskId: string, action: TaskOperatorAction, body: TaskActionBody): Promise<TaskView> {
    const { run, task: recorded } = await locate(principal, taskId);
    const task = await live(recorded);
    const refusal = operatorActionRefusal(taskId, action, task.state);
    if (refusal) throw new PalyraError('conflict', refusal, { taskId, state: task.state, action });
    if (body.expiresAt !== undefined && action !== 'retry') {
      throw new PalyraError('validation_failed', 'body.expiresAt: only a retry takes a new expiresAt', {
        field: 'body.expiresAt',
      });
    }
    if (body.expiresAt && Date.parse(body.expiresAt) <= now().getTime()) {
      throw new PalyraError('validation_failed', `body.expiresAt: ${body.expiresAt} is not in the future`, {
        field: 'body.expiresAt',
      });
    }
    if (isTerminalRunState(run.state)) {
      if (action === 'cancel' && task.state === 'running') {
        // A detached task outlived its run: stop its child directly; it settles and ends cancelled.
        await runs.withDeadline(() => client.workflow.getHandle(backgroundTaskWorkflowId(taskId)).cancel());
        return { ...task, state: 'cancel_requested' };
      }
      throw new PalyraError(
        'conflict',
        `run ${run.runId} has ended ${run.state}; task ${taskId} is ${task.state} and can no longer be ${pastTense[action]}`,
        {
          taskId,
          state: task.state,
          runState: run.state,
        },
      );
    }
    const updated = await runs
      .withDeadline(() =>
        client.workflow.getHandle(runWorkflowId(run.runId)).executeUpdate(taskControlUpdate, {
          args: [
            { taskId, action, by: principal.tokenName, ...(body.expiresAt !== undefined ? { expiresAt: body.expiresAt } : {}) },
          ],
        }),
      )
      .catch((error: unknown) => {
        if (error instanceof WorkflowUpdateFailedError) {
          throw new PalyraError('conflict', error.cause?.message ?? error.message, { taskId });
        }
        if (error instanceof WorkflowNotFoundError) {
          throw new PalyraError('conflict', `run ${run.runId} has ended; task ${taskId} can no longer be ${pastTense[action]}`, {
            taskId,
          });
        }
        throw error;
      });
    return { ...updated, temporal: task.temporal };
  }

  /** Adds tasks to a run that has not ended; 409 when it is finishing or would exceed its task limit. */
  async function add(principal: Principal, runId: string, body: AddTasksBody): Promise<TaskView[]> {
    const run = await runs.get(principal, runId);
    if (isTerminalRunState(run.state)) {
      throw new PalyraError('conflict', `run ${runId} has ended ${run.state}; it takes no new tasks`, {
        runId,
        state: run.state,
      });
    }
    const requestedAt = now();
    const tasks = resolveTaskSpecs(config, body.backgroundTasks, requestedAt, 'body.backgroundTasks');
    const added = await runs
      .withDeadline(() =>
        client.workflow
          .getHandle(runWorkflowId(runId))
          .executeUpdate(runAddTasksUpdate, { args: [{ tasks, requestedAt: requestedAt.toISOString() }] }),
      )
      .catch((error: unknown) => {
        if (error instanceof WorkflowUpdateFailedError) {
          throw new PalyraError('conflict', error.cause?.message ?? error.message, { runId });
        }
        if (error instanceof WorkflowNotFoundError) {
          throw new PalyraError('conflict', `run ${runId} has ended; it takes no new tasks`, { runId });
        }
        throw error;
      });
    return added.map((task) => ({ ...task, temporal: runs.link(backgroundTaskWorkflowId(task.taskId), null) }));
  }

  return { get, act, add };
}

const pastTense: Record<TaskOperatorAction, string> = {
  pause: 'paused',
  resume: 'resumed',
  retry: 'retried',
  cancel: 'cancelled',
};
