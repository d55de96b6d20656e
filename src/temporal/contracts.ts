/**
 * Everything that crosses a process boundary through Temporal: task queue defaults, workflow ids,
 * workflow and activity payloads, messages, search attributes and failure types. The API and CLI
 * start workflows by name with these types and never import worker code.
 *
 * This module is imported by workflow code, so it must stay free of Node built-ins and I/O.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { BudgetRefusal } from '../domain/budget';
import type { ChatMessage, SimulationOptions } from '../domain/chat';
import type { RoutingDecision, RoutingMode, TaskClass } from '../domain/routing';
import type { RunState } from '../domain/run-state';
import { taskStates, type TaskInput, type TaskKind, type TaskOperatorAction, type TaskState } from '../domain/tasks';

// ---- workflow types and ids -------------------------------------------------------------------

export const runWorkflowType = 'runWorkflow';
export const runWorkflowId = (runId: string): string => `run-${runId}`;
/**
 * One reservation per run, keyed by the run, so a retried admission or settlement books once. An
 * approved run reserves again under its own id (the first, refused one stays on record).
 */
export const runReservationId = (runId: string, approved = false): string => `run-${runId}${approved ? ':approved' : ''}`;

export const backgroundTaskWorkflowType = 'backgroundTaskWorkflow';
export const backgroundTaskWorkflowId = (taskId: string): string => `bgtask-${taskId}`;
/** A task id names its run: `<runId>-<n>`, n counting the run's tasks from 1 in creation order. */
export const backgroundTaskId = (runId: string, sequence: number): string => `${runId}-${sequence}`;
export function runIdOfTask(taskId: string): string | undefined {
  return /^(.+)-([1-9][0-9]*)$/.exec(taskId)?.[1];
}
/**
 * The ledger key of one attempt of a task (its routing decision, reservation and failed provider
 * attempts): every dispatch (the first, and each operator retry) and every attempt books apart.
 */
export const taskAttemptBookingId = (taskId: string, dispatch: number, attempt: number): string =>
  `bgtask-${taskId}:${dispatch}.${attempt}`;

// ---- search attributes (registered idempotently at start-up) -----------------------------------

export const searchAttributes = {
  tenant: defineSearchAttributeKey('PalyraTenant', SearchAttributeType.KEYWORD),
  principal: defineSearchAttributeKey('PalyraPrincipal', SearchAttributeType.KEYWORD),
  runState: defineSearchAttributeKey('PalyraRunState', SearchAttributeType.KEYWORD),
  model: defineSearchAttributeKey('PalyraModel', SearchAttributeType.KEYWORD),
  taskClass: defineSearchAttributeKey('PalyraTaskClass', SearchAttributeType.KEYWORD),
  costMicroUsd: defineSearchAttributeKey('PalyraCostMicroUsd', SearchAttributeType.INT),
} as const;

// ---- run workflow ------------------------------------------------------------------------------

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

// ---- background task workflow (one child run per dispatch of a task) --------------------------

export interface BackgroundTaskWorkflowInput {
  taskId: string;
  runId: string;
  tenantId: string;
  principalId: string;
  kind: TaskKind;
  taskClass: TaskClass;
  messages: ChatMessage[];
  jsonMode: boolean;
  model: RunModelChoice;
  /** The output cap of each attempt: the task's budgetTokens, or the model's own cap. */
  maxOutputTokens: number;
  /** Whether the caller capped the output (routing then holds every candidate to it). */
  outputCapped: boolean;
  simulation?: SimulationOptions;
  maxAttempts: number;
  /** Which dispatch of the task this is (1, then one more per operator retry): part of its ledger keys. */
  dispatch: number;
  /** The task must be done by then or it is stopped and ends `expired`. */
  expiresAt?: string;
  /** The child stops itself this long after it started and ends `failed` with `child_timeout`. */
  timeoutMs?: number;
  timing: { heartbeatTimeoutMs: number; providerTimeoutMs: number; retry: TaskRetryTiming };
}

/** How a dispatch of a task ended; the child completes with it whatever the state (so it reaches the parent). */
export interface BackgroundTaskOutcome {
  state: Extract<TaskState, 'succeeded' | 'failed' | 'cancelled' | 'expired'>;
  attempt: number;
  /** What this dispatch paid (all its attempts). */
  costMicroUsd: number;
  modelId: string;
  output?: string;
  error?: RunError;
}

/**
 * A task's document once a dispatch has ended: the run records it so, and the API reads a detached
 * child that outlived its run the same way. A cancellation the run asked for keeps the reason it
 * gave; a child that finished before the request reached it keeps its own terminal state.
 */
export function withTaskOutcome<T extends BackgroundTaskDocument>(
  task: T,
  outcome: BackgroundTaskOutcome,
  finishedAt: string,
): T {
  const { error: requestedReason, result: _previousResult, ...rest } = task;
  const error = outcome.state === 'cancelled' ? (requestedReason ?? outcome.error) : outcome.error;
  return {
    ...rest,
    state: outcome.state,
    attempt: outcome.attempt,
    costMicroUsd: task.costMicroUsd + outcome.costMicroUsd,
    model: { ...task.model, selected: outcome.modelId },
    ...(outcome.output !== undefined ? { result: outcome.output.slice(0, taskResultSummaryLength) } : {}),
    ...(error ? { error } : {}),
    finishedAt,
  } as T;
}

/** Memo key of a task child's progress (state, attempt, cost), readable while it runs. */
export const taskMemoKey = 'task';

export interface BackgroundTaskProgress {
  state: TaskState;
  attempt: number;
  costMicroUsd: number;
  modelId: string;
}

// ---- activities --------------------------------------------------------------------------------

/**
 * An input of a governed-path activity as workflows recorded before `bookingId` existed, when the
 * same key was called `runId` (even for a task's attempt). Activities accept both forms.
 */
export type RecordedBookingInput<T extends { bookingId: string }> = T | (Omit<T, 'bookingId'> & { runId: string });

export function bookingIdOf(input: { bookingId: string } | { runId: string }): string {
  return 'bookingId' in input ? input.bookingId : input.runId;
}

export interface InvokeProviderInput {
  /** The ledger key of what is paid for: the run id for a run, `bgtask-…` for a task's attempt. */
  bookingId: string;
  providerId: string;
  model: string;
  messages: ChatMessage[];
  maxOutputTokens: number;
  simulation?: SimulationOptions;
  /** A stream with no new chunk for this long is aborted and retried (normally the heartbeat timeout). */
  stallTimeoutMs: number;
  /**
   * The attempt as the caller counts them, when it retries by itself (a background task makes each
   * attempt a new activity); otherwise the activity's own attempt number.
   */
  attempt?: number;
  /**
   * The run's reservation: before each attempt the hold is topped up to cover the attempts already
   * billed plus this one (or the attempt is refused, `BudgetExceeded`), and while it streams the
   * hold's lease is renewed, so a live run never loses its hold to the sweeper.
   */
  reservationId?: string;
}

export interface InvokeProviderResult {
  output: string;
  usage: RunUsage;
  finishReason: 'stop' | 'length';
}

export interface AdmitRunInput {
  /** The ledger key of what is paid for: the run id for a run, `bgtask-…` for a task's attempt. */
  bookingId: string;
  tenantId: string;
  principalId: string;
  modelId: string;
  messages: ChatMessage[];
  maxOutputTokens: number;
  /**
   * How long the hold lives from the moment it is made (the activity's clock), so a reservation
   * made after a long approval wait is not born expired. Histories recorded before it carry
   * `expiresAt` instead.
   */
  holdTtlMs?: number;
  /** An absolute expiry (histories recorded before `holdTtlMs`). */
  expiresAt?: string;
  /** Second admission of an approved run: passes its `approval_required` policies (recorded). */
  approvalOverride?: { approvalId: string; approvedBy: string; note?: string };
  /** The reservation's id when it is not the run's own (a background task's attempt). */
  reservationId?: string;
}

export interface PlanRunInput {
  /** The ledger key of what is paid for: the run id for a run, `bgtask-…` for a task's attempt. */
  bookingId: string;
  tenantId: string;
  principalId: string;
  taskClass: TaskClass;
  model: string | null;
  messages: ChatMessage[];
  maxOutputTokens: number | null;
  jsonMode: boolean;
  routingMode: RoutingMode | null;
}

export interface SettleRunInput {
  /** The ledger key of what is paid for: the run id for a run, `bgtask-…` for a task's attempt. */
  bookingId: string;
  reservationId: string;
  /** The last attempt's usage; null when it produced nothing billable (failed or cancelled early). */
  usage: RunUsage | null;
  /**
   * A last attempt that timed out after streaming, as its last heartbeat saw it: charged once,
   * keyed by its attempt number (its worker may have recorded it already).
   */
  unreportedAttempt?: { attempt: number; inputTokens: number; outputTokens: number; failure: string };
}

export interface SettleRunResult {
  /** What the run pays: its last attempt plus every failed attempt that had streamed. */
  costMicroUsd: number;
  overage: boolean;
  /** Failed attempts charged with the run (empty when every attempt but the last streamed nothing). */
  chargedAttempts: { attempt: number; inputTokens: number; outputTokens: number; failure: string }[];
  /** True when nothing was billable and the whole hold went back. */
  released: boolean;
}

/** Heartbeat details of the provider activity: what a stalled-stream detector looks at. */
export interface ProviderHeartbeat {
  /**
   * Output tokens streamed so far: the provider's running usage when it reports one, else our own
   * count of the streamed text (histories recorded before this counted chunks).
   */
  tokensSoFar: number;
  /** The attempt that streamed them, so a charge taken from this heartbeat is keyed to it once. */
  attempt?: number;
  /** Prompt tokens of that attempt, as the provider reported them or as we counted them. */
  inputTokens?: number;
}

// ---- failure types (the closed set of ApplicationFailure `type`s) ------------------------------

export const failureTypes = {
  providerUnavailable: 'ProviderUnavailable',
  providerRateLimited: 'ProviderRateLimited',
  providerStreamCut: 'ProviderStreamCut',
  providerStreamStalled: 'ProviderStreamStalled',
  providerRejected: 'ProviderRejected',
  unknownProvider: 'UnknownProvider',
  unknownPrice: 'UnknownPrice',
  /** A retry that the budget can no longer cover: the run stops, having paid what it streamed. */
  budgetExceeded: 'BudgetExceeded',
  /** The run's hold was no longer pending when an attempt was about to start (it expired). */
  holdLost: 'HoldLost',
} as const;
export type FailureType = (typeof failureTypes)[keyof typeof failureTypes];

/** Failures that retrying cannot fix. */
export const nonRetryableFailureTypes: FailureType[] = [
  failureTypes.providerRejected,
  failureTypes.unknownProvider,
  failureTypes.unknownPrice,
  failureTypes.budgetExceeded,
  failureTypes.holdLost,
];
