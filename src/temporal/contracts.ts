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

export const defaultTaskQueue = 'palyra';

// ---- workflow types and ids -------------------------------------------------------------------

export const runWorkflowType = 'runWorkflow';
export const runWorkflowId = (runId: string): string => `run-${runId}`;
/**
 * One reservation per run, keyed by the run, so a retried admission or settlement books once. An
 * approved run reserves again under its own id (the first, refused one stays on record).
 */
export const runReservationId = (runId: string, approved = false): string => `run-${runId}${approved ? ':approved' : ''}`;
export const runIdFromWorkflowId = (workflowId: string): string | undefined =>
  workflowId.startsWith('run-') ? workflowId.slice('run-'.length) : undefined;

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

/** The run document of DESIGN section 10, as the workflow knows it (no Temporal UI link). */
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
  backgroundTasks: { taskId: string; kind: string; state: string; costMicroUsd: number; error?: RunError }[];
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
    backgroundTasks: [],
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

/** Memo key holding the run document without its output, so the API can read any run without a worker. */
export const runMemoKey = 'run';

// ---- activities --------------------------------------------------------------------------------

export interface InvokeProviderInput {
  runId: string;
  providerId: string;
  model: string;
  messages: ChatMessage[];
  maxOutputTokens: number;
  simulation?: SimulationOptions;
  /** A stream with no new chunk for this long is aborted and retried (normally the heartbeat timeout). */
  stallTimeoutMs: number;
}

export interface InvokeProviderResult {
  output: string;
  usage: RunUsage;
  finishReason: 'stop' | 'length';
}

export interface AdmitRunInput {
  runId: string;
  tenantId: string;
  principalId: string;
  modelId: string;
  messages: ChatMessage[];
  maxOutputTokens: number;
  /** When an unsettled hold goes back to the budget (the sweeper), as an ISO timestamp. */
  expiresAt: string;
  /** Second admission of an approved run: passes its `approval_required` policies (recorded). */
  approvalOverride?: { approvalId: string; approvedBy: string; note?: string };
}

export interface PlanRunInput {
  runId: string;
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
  runId: string;
  reservationId: string;
  /** The last attempt's usage; null when it produced nothing billable (failed or cancelled early). */
  usage: RunUsage | null;
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
  tokensSoFar: number;
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
} as const;
export type FailureType = (typeof failureTypes)[keyof typeof failureTypes];

/** Failures that retrying cannot fix. */
export const nonRetryableFailureTypes: FailureType[] = [
  failureTypes.providerRejected,
  failureTypes.unknownProvider,
  failureTypes.unknownPrice,
];
