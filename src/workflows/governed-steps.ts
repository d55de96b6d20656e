/**
 * What the run workflow and the background-task workflow share: the activity profiles of the
 * governed path (route → admit → stream → settle) and how its failures are read. Workflow code:
 * deterministic, no I/O.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  TimeoutFailure,
  type ActivityOptions,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import { nonRetryableFailureTypes, type ProviderHeartbeat, type RunError } from '../temporal/contracts';

/** Retry profile of the provider call: transient provider errors back off, rejections do not. */
export const providerRetry: ActivityOptions['retry'] = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: 5,
  nonRetryableErrorTypes: nonRetryableFailureTypes,
};

/** Ledger calls are short database transactions; they retry (backing off) until the database answers. */
export const ledgerRetry: ActivityOptions['retry'] = {
  initialInterval: '500ms',
  backoffCoefficient: 2,
  maximumInterval: '10s',
  nonRetryableErrorTypes: nonRetryableFailureTypes,
};

/**
 * Routing and the ledger are short database calls: local activities run them inside the workflow
 * task, without a round trip through the task queue each (so admission answers in one task).
 */
export const ledgerCallOptions: LocalActivityOptions = { startToCloseTimeout: '30s', retry: ledgerRetry };

/**
 * A hold outlives the longest the provider step can take (every attempt to its timeout) plus a
 * margin, so the sweeper never takes back the hold of a run that is still going.
 */
export function reservationExpiresAt(nowMs: number, providerTimeoutMs: number, providerAttempts: number): string {
  const reservationMarginMs = 5 * 60_000;
  return new Date(nowMs + providerTimeoutMs * providerAttempts + reservationMarginMs).toISOString();
}

/**
 * Tokens a provider stream had produced before it stopped without an answer: a cancelled stream
 * reports them in its CancelledFailure, a stream whose worker went silent in its last heartbeat.
 * The provider bills them, so the books must too.
 */
export function tokensStreamedBeforeStop(error: unknown, { includeTimeouts }: { includeTimeouts: boolean }): number | undefined {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  let details: Partial<ProviderHeartbeat> | undefined;
  if (cause instanceof CancelledFailure) details = cause.details[0] as Partial<ProviderHeartbeat> | undefined;
  else if (includeTimeouts && cause instanceof TimeoutFailure) {
    details = cause.lastHeartbeatDetails as Partial<ProviderHeartbeat> | undefined;
  }
  return typeof details?.tokensSoFar === 'number' && details.tokensSoFar > 0 ? details.tokensSoFar : undefined;
}

/** A failure as the error of a run or task document: a stable snake_case code and a message. */
export function describeFailure(error: unknown): RunError {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof TimeoutFailure) {
    return { code: 'provider_timeout', message: `the provider call timed out (${cause.timeoutType}) on its last attempt` };
  }
  if (cause instanceof ApplicationFailure) {
    return { code: toSnakeCase(cause.type ?? 'Error'), message: cause.message };
  }
  if (cause instanceof Error) return { code: 'internal_error', message: cause.message };
  return { code: 'internal_error', message: String(cause) };
}

/** Whether retrying could help: provider rejections, unknown providers and prices cannot. */
export function isRetryableFailure(error: unknown): boolean {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure) {
    return !cause.nonRetryable && !(nonRetryableFailureTypes as string[]).includes(cause.type ?? '');
  }
  return true;
}

function toSnakeCase(type: string): string {
  return type.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}
