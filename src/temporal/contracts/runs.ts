/**
 * The run workflow: its input and its messages.
 * Part of the contracts (see index.ts): bundled into workflow code, so no Node built-ins or I/O.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ChatMessage, SimulationOptions } from '../../domain/chat';
import type { RoutingMode, TaskClass } from '../../domain/routing';
import type { RunAdmission, RunApprovalDecision, RunDocument, RunModelChoice } from '../../domain/runs';
import type { BackgroundTaskDocument, BackgroundTaskSpec, TaskOperatorAction } from '../../domain/tasks';

/**
 * The run and task documents and the run's memo summary are domain values (src/domain/runs, src/domain/tasks):
 * they cross processes as the query, update and workflow results and the memo, so they are part of the contracts.
 */
export type {
  ChargedAttempt,
  RunAdmission,
  RunApproval,
  RunApprovalDecision,
  RunDocument,
  RunError,
  RunModelChoice,
  RunSummary,
  RunTaskCounts,
  RunUsage,
} from '../../domain/runs';
export type { BackgroundTaskDocument, BackgroundTaskSpec } from '../../domain/tasks';

export interface RunWorkflowInput {
  runId: string;
  tenantId: string;
  principalId: string;
  /** ISO timestamp taken by the API when it accepted the run. */
  createdAt: string;
  messages: ChatMessage[];
  model: RunModelChoice;
  /** The output cap for the requested (or default) model: the caller's, or the model's own. */
  maxOutputTokens: number;
  /** The caller's own cap, if it set one (routing holds every candidate to it). */
  requestedMaxOutputTokens?: number | null;
  taskClass: TaskClass;
  /** Routing mode for this run only; otherwise the configured one. */
  routingMode?: RoutingMode | null;
  jsonMode?: boolean;
  simulation?: SimulationOptions;
  /** Timing chosen by the operator's config, copied in so a replay sees the same values. */
  timing: { heartbeatTimeoutMs: number; providerTimeoutMs: number; approvalTimeoutMs: number };
  /** Background work the run spawns as child workflows once it is admitted (docs/architecture.md, Background tasks). */
  backgroundTasks?: BackgroundTaskSpec[];
  /** How this run schedules its tasks (absent in runs started before background tasks existed). */
  taskPolicy?: RunTaskPolicy;
  /**
   * Set when an earlier execution of this run continued as new to keep its history small: the run
   * resumes from this state instead of starting over (its own work is done and booked). Its
   * `backgroundTasks` then holds the spec of every task, in the document's order.
   */
  continued?: ContinuedRun;
}

/** What a run hands to the next execution of itself when it continues as new. */
export interface ContinuedRun {
  /** The run document as it stood at the hand-over. */
  document: RunDocument;
  /** How many executions came before this one. */
  continuations: number;
}

export interface RunTaskPolicy {
  /** At most this many task children run at once; the rest wait in priority order. */
  maxConcurrentChildren: number;
  /** Most tasks a run may have in all (a bound on its history and memo). */
  maxTasks: number;
  /**
   * Detached: the run completes once its own work is done and every task has been dispatched, and
   * running children finish on their own (parent-close policy ABANDON). Otherwise it waits for them.
   */
  detached: boolean;
  retry: TaskRetryTiming;
  /**
   * How long a run whose own work succeeded stays open once its tasks have ended, while one of them
   * ended failed, cancelled or expired, so an operator can still retry it (each retry restarts it).
   */
  retryGraceMs?: number;
  /**
   * Past this many history events, a run that is only waiting on its tasks' retries continues as
   * new with its state (as it does when Temporal suggests it). At twice as many, while children
   * still run and it cannot, it refuses task actions other than cancel. Absent: 10,000.
   */
  historyEventsBeforeContinueAsNew?: number;
}

export interface TaskRetryTiming {
  initialIntervalMs: number;
  maximumIntervalMs: number;
}

export const runStateQuery = defineQuery<RunDocument>('state');

/**
 * Waits for the run's budget decision and returns it. `POST /v1/runs` sends it with the start
 * (update-with-start), so the caller learns synchronously whether the run was admitted.
 */
export const runAdmissionUpdate = defineUpdate<RunAdmission>('admission');

/**
 * Approves or denies this run's budget override. Rejected (before it reaches the history) unless
 * the run is `awaiting_approval`, so an approval can never attach to a run that already ended.
 */
export const runApprovalUpdate = defineUpdate<RunDocument, [RunApprovalDecision]>('approval');

/**
 * Adds background tasks to a run that has not ended. Rejected when the run is finishing or the
 * tasks would exceed its limit; answers with the new tasks' documents.
 */
export const runAddTasksUpdate = defineUpdate<BackgroundTaskDocument[], [AddTasksRequest]>('addTasks');

export interface AddTasksRequest {
  tasks: BackgroundTaskSpec[];
  /** ISO timestamp the API accepted them at (their `createdAt`). */
  requestedAt: string;
}

/**
 * An operator's action on one of the run's tasks. The validator refuses an illegal transition with
 * a message naming the task's current state, before anything reaches the history.
 */
export const taskControlUpdate = defineUpdate<BackgroundTaskDocument, [TaskControlRequest]>('controlTask');

export interface TaskControlRequest {
  taskId: string;
  action: TaskOperatorAction;
  /** The token name of who acted. */
  by: string;
  /** Retry only: a new start deadline; `null` drops it. Without it a deadline already past is dropped. */
  expiresAt?: string | null;
}

/**
 * Memo key holding the run as the API reads it without a worker: a {@link RunSummary} (runs
 * started under the `run-summary-memo-1` patch, and by the API since), or, in runs recorded
 * before it, the whole run document without its output.
 */
export const runMemoKey = 'run';
