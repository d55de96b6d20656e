/**
 * The run workflow: its input, its document and summary, and its messages.
 * Part of the contracts (see index.ts): bundled into workflow code, so no Node built-ins or I/O.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { BudgetRefusal } from '../../domain/budget';
import type { ChatMessage, SimulationOptions } from '../../domain/chat';
import type { RoutingDecision, RoutingMode, TaskClass } from '../../domain/routing';
import type { RunState } from '../../domain/run-state';
import { taskStates, type TaskInput, type TaskKind, type TaskOperatorAction, type TaskState } from '../../domain/tasks';
import { backgroundTaskId } from './ids';
import { type SettleRunResult } from './activity-payloads';

/** The model as requested by the caller and as resolved for this run. */
export interface RunModelChoice {
  requested: string | null;
  selected: string;
  providerId: string;
}

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
}

export interface TaskRetryTiming {
  initialIntervalMs: number;
  maximumIntervalMs: number;
}

/** A background task as the API accepted it (model resolved, timing validated). */
export type BackgroundTaskSpec = TaskInput & {
  /** -10..10; higher starts first. */
  priority: number;
  notBefore?: string;
  expiresAt?: string;
  /** Bounds the task's child run (all its attempts); past it the child is cancelled: `child_timeout`. */
  timeoutMs?: number;
  maxAttempts: number;
  /** Caps the output tokens of each attempt (its reservation is sized to it). */
  budgetTokens?: number;
  model: RunModelChoice;
  /** The model's own output cap. */
  maxOutputTokens: number;
  simulation?: SimulationOptions;
};

/** The task document (docs/architecture.md, Contracts), as the run workflow keeps it (no Temporal UI link). */
export interface BackgroundTaskDocument {
  taskId: string;
  runId: string;
  kind: TaskKind;
  state: TaskState;
  /** The attempt under way or last made (0 before the first); an operator retry resets it. */
  attempt: number;
  maxAttempts: number;
  priority: number;
  /** Creation order within the run. */
  sequence: number;
  notBefore?: string;
  expiresAt?: string;
  timeoutMs?: number;
  budgetTokens?: number;
  model: { requested: string | null; selected: string };
  /** All the task has paid, over every attempt and retry. */
  costMicroUsd: number;
  /** The start of the model's answer (at most {@link taskResultSummaryLength} characters). */
  result?: string;
  error?: RunError;
  /** How many times the task was started (the first dispatch and each operator retry). */
  dispatches: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
}

export const taskResultSummaryLength = 500;

export function newTaskDocument(
  spec: BackgroundTaskSpec,
  runId: string,
  sequence: number,
  createdAt: string,
): BackgroundTaskDocument {
  return {
    taskId: backgroundTaskId(runId, sequence),
    runId,
    kind: spec.kind,
    state: 'queued',
    attempt: 0,
    maxAttempts: spec.maxAttempts,
    priority: spec.priority,
    sequence,
    ...(spec.notBefore ? { notBefore: spec.notBefore } : {}),
    ...(spec.expiresAt ? { expiresAt: spec.expiresAt } : {}),
    ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
    ...(spec.budgetTokens !== undefined ? { budgetTokens: spec.budgetTokens } : {}),
    model: { requested: spec.model.requested, selected: spec.model.selected },
    costMicroUsd: 0,
    dispatches: 0,
    createdAt,
  };
}

export interface RunUsage {
  inputTokens: number;
  outputTokens: number;
  /** True when the provider reported no usage and Palyra counted tokens itself. */
  estimated: boolean;
}

export interface RunError {
  code: string;
  message: string;
}

/** The budget admission of a run: what it was estimated at and what the ledger decided. */
export interface RunAdmission {
  /** `awaiting_approval`: an `approval_required` policy refused it; an operator may let it pass. */
  status: 'admitted' | 'denied' | 'awaiting_approval';
  reservationId: string;
  /** The model admitted (routing's choice), which the reservation is priced for. */
  modelId: string;
  estimate: {
    inputTokens: number;
    /** What the caller asked for (or the model's cap). */
    maxOutputTokens: number;
    expectedMicroUsd: number;
    upperMicroUsd: number;
    source: string;
    precision: 'exact' | 'estimated';
    catalogVersion: string;
  };
  /** Output tokens the run may produce: the request's, or fewer when only that much fit the budget. */
  maxOutputTokens: number;
  clamped: boolean;
  reservedMicroUsd: number;
  /** Why the run was denied or waits for approval, with the numbers. */
  refusal?: BudgetRefusal;
}

/** An operator's decision on a run parked by an `approval_required` budget. */
export interface RunApprovalDecision {
  decision: 'approve' | 'deny';
  note?: string;
  /** The token name of who decided. */
  decidedBy: string;
}

export interface RunApproval extends RunApprovalDecision {
  decidedAt: string;
}

/** The run document (docs/architecture.md, Contracts), as the workflow knows it (no Temporal UI link). */
export interface RunDocument {
  runId: string;
  tenantId: string;
  principalId: string;
  state: RunState;
  model: { requested: string | null; selected: string };
  usage: RunUsage | null;
  costMicroUsd: number;
  /** Which model routing chose and why (also stored in the ledger database). */
  routing?: RoutingDecision;
  /** Set once the budget decision is made. */
  admission?: RunAdmission;
  /** The operator's decision, for a run that waited for approval. */
  approval?: RunApproval;
  /** Failed provider attempts that had streamed, charged with the run. */
  chargedAttempts?: SettleRunResult['chargedAttempts'];
  output?: string;
  error?: RunError;
  backgroundTasks: BackgroundTaskDocument[];
  /** What the run's background tasks have paid so far (not included in `costMicroUsd`). */
  backgroundTasksCostMicroUsd?: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
}

/** The document of a run that has just been accepted: the API stores it as the first memo. */
export function newRunDocument(input: RunWorkflowInput): RunDocument {
  return {
    runId: input.runId,
    tenantId: input.tenantId,
    principalId: input.principalId,
    state: 'queued',
    model: { requested: input.model.requested, selected: input.model.selected },
    usage: null,
    costMicroUsd: 0,
    backgroundTasks: (input.backgroundTasks ?? []).map((spec, index) =>
      newTaskDocument(spec, input.runId, index + 1, input.createdAt),
    ),
    createdAt: input.createdAt,
  };
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

/** The memo summary of a run document: pure, so the workflow and the API build it alike. */
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
