import {
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  condition,
  executeChild,
  isCancellation,
} from '@temporalio/workflow';
import {
  isTerminalTaskState,
  newTaskDocument,
  operatorActionRefusal,
  planDispatch,
  retryableTaskStates,
  taskClassOf,
  taskMessages,
  taskNeedsJson,
  withTaskOutcome,
  type TaskState,
} from '../domain/tasks';
import {
  backgroundTaskWorkflowId,
  backgroundTaskWorkflowType,
  searchAttributes,
  type AddTasksRequest,
  type BackgroundTaskDocument,
  type BackgroundTaskOutcome,
  type BackgroundTaskSpec,
  type BackgroundTaskWorkflowInput,
  type RunDocument,
  type RunError,
  type RunTaskPolicy,
  type RunWorkflowInput,
  type TaskControlRequest,
} from '../temporal/contracts';
import { describeFailure } from './governed-steps';

/** The policy of runs started before background tasks existed (they have none). */
const noTasksPolicy: RunTaskPolicy = {
  maxConcurrentChildren: 1,
  maxTasks: 0,
  detached: false,
  retry: { initialIntervalMs: 1000, maximumIntervalMs: 60_000 },
  retryGraceMs: 0,
};

export type TaskScheduler = ReturnType<typeof createTaskScheduler>;

/**
 * The run's side of its background tasks (docs/architecture.md, Background tasks): it keeps each task's document in the
 * run document, starts children in priority order within `maxConcurrentChildren` once the run is
 * admitted, expires tasks that did not start in time, applies operator actions, and records every
 * child's outcome. Workflow code: time is workflow time, every wait a durable timer.
 */
export function createTaskScheduler(
  run: RunDocument,
  input: RunWorkflowInput,
  onChange: () => void,
  /** Called at the end of each pass of the dispatch loop (after the changes it made). */
  onPass: () => void = () => {},
) {
  const policy = input.taskPolicy ?? noTasksPolicy;
  const specs = new Map<string, BackgroundTaskSpec>();
  const childScopes = new Map<string, CancellationScope>();
  (input.backgroundTasks ?? []).forEach((spec, index) => specs.set(run.backgroundTasks[index]!.taskId, spec));
  let dispatchOpen = false;
  /** Set when the run is finishing: it takes no new tasks, and its tasks can only be cancelled. */
  let closing = false;
  /** Set when the run completes: the loop ends and nothing more is taken. */
  let stopped = false;
  /** Bumped on every change the loop must look at (a task added, ended or acted on). */
  let version = 0;
  /** The version the waiting loop last looked at; undefined while the loop is not waiting. */
  let waitingAt: number | undefined;

  /**
   * Whether the run may complete: every task has ended, or (detached) none is still waiting to be
   * started or stopped by this run.
   */
  const settled = () =>
    run.backgroundTasks.every((task) => isTerminalTaskState(task.state) || (policy.detached && task.state === 'running'));
  const documentOf = (taskId: string) => run.backgroundTasks.find((task) => task.taskId === taskId);
  const changed = () => {
    version += 1;
    // A run without tasks publishes nothing more than it did before tasks existed (its history replays).
    if (run.backgroundTasks.length === 0) return;
    run.backgroundTasksCostMicroUsd = run.backgroundTasks.reduce((sum, task) => sum + task.costMicroUsd, 0);
    onChange();
  };

  function end(task: BackgroundTaskDocument, state: TaskState, error?: RunError): void {
    task.state = state;
    if (error) task.error = error;
    task.finishedAt = new Date().toISOString();
  }

  function dispatch(task: BackgroundTaskDocument): void {
    const spec = specs.get(task.taskId)!;
    task.state = 'running';
    task.dispatches += 1;
    task.attempt = 1;
    task.startedAt = new Date().toISOString();
    const childInput: BackgroundTaskWorkflowInput = {
      taskId: task.taskId,
      runId: run.runId,
      tenantId: run.tenantId,
      principalId: run.principalId,
      kind: spec.kind,
      taskClass: taskClassOf(spec),
      messages: taskMessages(spec),
      jsonMode: taskNeedsJson(spec),
      model: spec.model,
      maxOutputTokens: Math.min(spec.maxOutputTokens, spec.budgetTokens ?? spec.maxOutputTokens),
      outputCapped: spec.budgetTokens !== undefined,
      ...(spec.simulation ? { simulation: spec.simulation } : {}),
      maxAttempts: task.maxAttempts,
      dispatch: task.dispatches,
      ...(task.expiresAt ? { expiresAt: task.expiresAt } : {}),
      ...(task.timeoutMs !== undefined ? { timeoutMs: task.timeoutMs } : {}),
      timing: {
        heartbeatTimeoutMs: input.timing.heartbeatTimeoutMs,
        providerTimeoutMs: input.timing.providerTimeoutMs,
        retry: policy.retry,
      },
    };
    // Each child gets a scope of its own, under the scheduler's non-cancellable one: the run
    // decides when a child is cancelled (an operator, the run's own end), so it can mark the task
    // `cancel_requested` first. Deadlines the child enforces itself.
    const scope = new CancellationScope();
    childScopes.set(task.taskId, scope);
    void scope
      .run(() =>
        executeChild<(arg: BackgroundTaskWorkflowInput) => Promise<BackgroundTaskOutcome>>(backgroundTaskWorkflowType, {
          workflowId: backgroundTaskWorkflowId(task.taskId),
          args: [childInput],
          // A retried task starts its workflow id again once the previous dispatch has closed.
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
          // Second line of defence: a run that fails or is terminated still stops its children.
          parentClosePolicy: policy.detached ? ParentClosePolicy.ABANDON : ParentClosePolicy.REQUEST_CANCEL,
          staticSummary: `${spec.kind} task ${task.sequence} of run ${run.runId} (priority ${task.priority})`,
          typedSearchAttributes: [
            { key: searchAttributes.tenant, value: run.tenantId },
            { key: searchAttributes.principal, value: run.principalId },
            { key: searchAttributes.taskClass, value: childInput.taskClass },
            { key: searchAttributes.model, value: spec.model.selected },
          ],
        }),
      )
      .then(
        (outcome) => record(task, outcome),
        (error: unknown) => {
          // Cancelled before the child had started: nothing ran, so nothing was booked.
          if (task.state === 'cancel_requested' && isCancellation(error)) end(task, 'cancelled');
          // The child itself failed (a bug, a termination, a start refused): nothing reports its cost.
          else end(task, 'failed', { code: 'child_failed', ...describeChildFailure(error) });
        },
      )
      .finally(() => {
        childScopes.delete(task.taskId);
        changed();
      });
  }

  function record(task: BackgroundTaskDocument, outcome: BackgroundTaskOutcome): void {
    const index = run.backgroundTasks.indexOf(task);
    run.backgroundTasks[index] = withTaskOutcome(task, outcome, new Date().toISOString());
  }

  function cancel(task: BackgroundTaskDocument, reason: RunError): void {
    if (task.state === 'queued' || task.state === 'paused') {
      end(task, 'cancelled', reason);
    } else if (task.state === 'running') {
      task.state = 'cancel_requested';
      task.error = reason;
      childScopes.get(task.taskId)?.cancel();
    }
  }

  return {
    /** Lets tasks start: called once the run has been admitted. */
    openDispatch(): void {
      dispatchOpen = true;
      changed();
    },

    /** Why new tasks cannot be added now, or undefined. */
    addRefusal(request: AddTasksRequest): string | undefined {
      if (closing) return `run ${run.runId} is ${run.state} and finishing; it takes no new tasks`;
      const total = run.backgroundTasks.length + request.tasks.length;
      if (total > policy.maxTasks) {
        return `run ${run.runId} would have ${total} tasks; a run may have at most ${policy.maxTasks}`;
      }
      return undefined;
    },

    add(request: AddTasksRequest): BackgroundTaskDocument[] {
      const added = request.tasks.map((spec) => {
        const task = newTaskDocument(spec, run.runId, run.backgroundTasks.length + 1, request.requestedAt);
        run.backgroundTasks.push(task);
        specs.set(task.taskId, spec);
        return task;
      });
      changed();
      return added;
    },

    /** Why an operator action cannot be taken, naming the task's state; undefined when it can. */
    controlRefusal(request: TaskControlRequest): string | undefined {
      const task = documentOf(request.taskId);
      if (!task) return `run ${run.runId} has no task ${request.taskId}`;
      const refusal = operatorActionRefusal(task.taskId, request.action, task.state);
      if (refusal) return refusal;
      // A finishing run only stops tasks: a retried or resumed task would start after the run
      // had already cancelled the rest.
      if (closing && request.action !== 'cancel') {
        return `run ${run.runId} is ${run.state === 'running' ? 'finishing' : run.state}; task ${task.taskId} is ${task.state} and can only be cancelled now`;
      }
      return undefined;
    },

    control(request: TaskControlRequest): BackgroundTaskDocument {
      const task = documentOf(request.taskId)!;
      switch (request.action) {
        case 'pause':
          task.state = 'paused';
          break;
        case 'resume':
          task.state = 'queued';
          break;
        case 'cancel':
          cancel(task, { code: 'cancelled_by_operator', message: `cancelled by ${request.by}` });
          break;
        case 'retry': {
          task.state = 'queued';
          task.attempt = 0;
          delete task.error;
          delete task.result;
          delete task.finishedAt;
          delete task.startedAt;
          const deadlinePassed = task.expiresAt !== undefined && Date.parse(task.expiresAt) <= Date.now();
          if (request.expiresAt === null || (request.expiresAt === undefined && deadlinePassed)) delete task.expiresAt;
          else if (request.expiresAt !== undefined) task.expiresAt = request.expiresAt;
          break;
        }
      }
      changed();
      return task;
    },

    /**
     * Starts and expires tasks as slots, `notBefore` and `expiresAt` allow, until the run stops
     * it. Runs in a non-cancellable scope: the run cancels children
     * itself, task by task.
     */
    async run(): Promise<void> {
      for (;;) {
        const nowMs = Date.now();
        const plan = planDispatch(
          run.backgroundTasks.map((task) => ({
            taskId: task.taskId,
            state: task.state,
            priority: task.priority,
            sequence: task.sequence,
            ...(task.notBefore ? { notBeforeMs: Date.parse(task.notBefore) } : {}),
            ...(task.expiresAt ? { expiresAtMs: Date.parse(task.expiresAt) } : {}),
          })),
          { nowMs, maxConcurrent: policy.maxConcurrentChildren, dispatchOpen },
        );
        for (const taskId of plan.expire) {
          end(documentOf(taskId)!, 'expired', {
            code: 'task_expired',
            message: 'the task had not started by its expiresAt and was never dispatched',
          });
        }
        for (const taskId of plan.start) dispatch(documentOf(taskId)!);
        if (plan.expire.length > 0 || plan.start.length > 0) changed();
        onPass();
        if (stopped) return;
        const seen = version;
        const wake = () => version !== seen || stopped;
        waitingAt = seen;
        if (plan.wakeAtMs === undefined) await condition(wake);
        else await condition(wake, Math.max(1, plan.wakeAtMs - nowMs));
        waitingAt = undefined;
      }
    },

    settled,

    /** Whether the loop has a change to look at: it runs a pass (and calls `onPass`) before this workflow task ends. */
    passPending(): boolean {
      return waitingAt !== undefined && (version !== waitingAt || stopped);
    },

    /** The run is finishing: no new tasks. */
    close(): void {
      closing = true;
    },

    /** The run completes: the loop ends (call once every task is settled). */
    stop(): void {
      stopped = true;
      changed();
    },

    /** Whether an operator could still retry a task (one ended failed, cancelled or expired). */
    anyRetryable(): boolean {
      return run.backgroundTasks.some((task) => retryableTaskStates.includes(task.state));
    },

    /** The spec of every task, in the run document's order: what a continued run is given back. */
    specsInOrder(): BackgroundTaskSpec[] {
      return run.backgroundTasks.map((task) => specs.get(task.taskId)!);
    },

    /** How long a finished run stays open for retries of its tasks that did not succeed. */
    retryGraceMs: policy.detached ? 0 : (policy.retryGraceMs ?? 0),

    /** Stops every task that has not ended: queued ones at once, running ones through their child. */
    cancelAll(reason: RunError): void {
      for (const task of run.backgroundTasks) cancel(task, reason);
      changed();
    },
  };
}

function describeChildFailure(error: unknown): { message: string } {
  const failure = describeFailure(error);
  const cause = (error as { cause?: unknown }).cause;
  return { message: cause instanceof Error ? `${failure.message}: ${cause.message}` : failure.message };
}
