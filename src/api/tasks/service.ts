import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { PalyraConfig } from '../../config';
import { PalyraError } from '../../domain/errors';
import { isTerminalRunState } from '../../domain/run-state';
import { operatorActionRefusal, taskTimingProblems, type TaskOperatorAction } from '../../domain/tasks';
import {
  backgroundTaskWorkflowId,
  runAddTasksUpdate,
  runIdOfTask,
  runWorkflowId,
  taskControlUpdate,
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
 * the run document (a running task read live from its child) and actions go to the run as updates
 * (whose validators refuse illegal transitions).
 */
export function createTaskService({ client, config, runs, now = () => new Date() }: TaskServiceDeps) {
  /** The task and its run's state; 404 for a task (or run) this token cannot see. */
  async function locate(principal: Principal, taskId: string) {
    const notFound = () => new PalyraError('not_found', `task ${taskId} not found`);
    const runId = runIdOfTask(taskId);
    if (!runId) throw notFound();
    const { view: run, complete } = await runs.read(principal, runId).catch((error: unknown) => {
      if (error instanceof PalyraError && error.code === 'not_found') throw notFound();
      throw error;
    });
    const task = run.backgroundTasks.find((candidate) => candidate.taskId === taskId);
    if (!task && !complete) {
      // The run's memo holds only a summary and no worker answered its state query.
      throw new PalyraError('temporal_unavailable', `run ${runId} did not answer in time; try task ${taskId} again`, {
        taskId,
      });
    }
    if (!task) throw notFound();
    return { run, task };
  }

  async function get(principal: Principal, taskId: string): Promise<TaskView> {
    const { task } = await locate(principal, taskId);
    return task;
  }

  /**
   * An operator action, taken by the run workflow. 409 naming the task's state when the action is
   * illegal from it, or when the run has ended (its tasks can then only be cancelled, if detached).
   */
  async function act(principal: Principal, taskId: string, action: TaskOperatorAction, body: TaskActionBody): Promise<TaskView> {
    const { run, task } = await locate(principal, taskId);
    if (body.expiresAt !== undefined && action !== 'retry') {
      throw new PalyraError('validation_failed', 'body.expiresAt: only a retry takes a new expiresAt', {
        field: 'body.expiresAt',
      });
    }
    if (body.expiresAt) {
      const [problem] = taskTimingProblems(
        { expiresAtMs: Date.parse(body.expiresAt), ...(task.notBefore ? { notBeforeMs: Date.parse(task.notBefore) } : {}) },
        now().getTime(),
      );
      if (problem) throw new PalyraError('validation_failed', `body.expiresAt: ${problem.message}`, { field: 'body.expiresAt' });
    }
    const refusal = operatorActionRefusal(taskId, action, task.state);
    if (refusal) throw new PalyraError('conflict', refusal, { taskId, state: task.state, action });
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
