/**
 * Activity inputs and results of the governed path.
 * Part of the contracts (see index.ts): bundled into workflow code, so no Node built-ins or I/O.
 */
import type { ChatMessage, SimulationOptions } from '../../domain/chat';
import type { RoutingMode, TaskClass } from '../../domain/routing';
import type { ChargedAttempt, RunUsage } from '../../domain/runs';

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
  chargedAttempts: ChargedAttempt[];
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
  /**
   * Epoch ms when `tokensSoFar` last grew (or the attempt began): keep-alive heartbeats between chunks
   * repeat it, so the supervisor's `stalled_stream` tells a live slow stream from a stuck one.
   */
  progressAt?: number;
  /** The provider this attempt calls, so a retry storm can name the circuit to open. */
  providerId?: string;
}
