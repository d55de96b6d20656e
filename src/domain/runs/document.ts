/**
 * The run document (docs/architecture.md, Runs): what the run workflow knows of a run and the API returns.
 * Pure: the workflow and the API build a new run's document alike.
 */
import type { BudgetRefusal } from '../budget';
import type { RoutingDecision } from '../routing';
import type { RunState } from '../run-state';
import { newTaskDocument, type BackgroundTaskDocument, type BackgroundTaskSpec } from '../tasks';

/** The model as requested by the caller and as resolved for this run. */
export interface RunModelChoice {
  requested: string | null;
  selected: string;
  providerId: string;
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

/** A failed provider attempt that had streamed, charged with the run. */
export interface ChargedAttempt {
  attempt: number;
  inputTokens: number;
  outputTokens: number;
  failure: string;
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
  chargedAttempts?: ChargedAttempt[];
  output?: string;
  error?: RunError;
  backgroundTasks: BackgroundTaskDocument[];
  /** What the run's background tasks have paid so far (not included in `costMicroUsd`). */
  backgroundTasksCostMicroUsd?: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
}

/** What a run's first document is made of: part of the run workflow's input. */
export interface NewRun {
  runId: string;
  tenantId: string;
  principalId: string;
  /** ISO timestamp taken by the API when it accepted the run. */
  createdAt: string;
  model: RunModelChoice;
  backgroundTasks?: BackgroundTaskSpec[];
}

/** The document of a run that has just been accepted: the API stores it as the first memo. */
export function newRunDocument(input: NewRun): RunDocument {
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
