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
import { reservationTtlMs, runProviderAttempts } from '../domain/budget';
import {
  nonRetryableFailureTypes,
  type ProviderHeartbeat,
  type RunError,
  type RunUsage,
  type SettleRunInput,
} from '../temporal/contracts';

/**
 * Patch of the money-exactness changes to the governed path: holds that live from when they are
 * made, topped up and renewed by each provider attempt, and a last attempt that timed out charged
 * from its heartbeat. Histories recorded before it replay on the old path.
 */
export const exactMoneyPatch = 'exact-money-1';

/** Retry profile of the provider call: transient provider errors back off, rejections do not. */
export const providerRetry: ActivityOptions['retry'] = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '30s',
  maximumAttempts: runProviderAttempts,
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
  return new Date(nowMs + reservationTtlMs(providerTimeoutMs, providerAttempts)).toISOString();
}

/** What a provider call that ended without an answer still owes, as the settle step takes it. */
export type UnansweredCharge = Pick<SettleRunInput, 'usage' | 'unreportedAttempt'>;

/**
 * What a provider call that ended without an answer consumed. A cancelled stream reports its
 * tokens in its CancelledFailure: that is the usage to settle. A last attempt that timed out
 * (its worker lost, or past its start-to-close timeout) is charged from its last heartbeat, keyed
 * by its attempt, because its worker, when alive, records the same attempt itself. An attempt
 * that failed otherwise recorded what it streamed itself: nothing more is owed here.
 *
 * `legacyTimeouts` is the behaviour of histories recorded before `exactMoneyPatch`: runs ignored
 * a timed-out last attempt, tasks settled it as usage.
 */
export function chargeForUnanswered(
  error: unknown,
  promptTokens: number,
  { exact, legacyTimeouts }: { exact: boolean; legacyTimeouts: 'ignore' | 'usage' },
): UnansweredCharge {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  const usage = (details: Partial<ProviderHeartbeat>): RunUsage => ({
    inputTokens: (exact ? details.inputTokens : undefined) ?? promptTokens,
    outputTokens: details.tokensSoFar as number,
    estimated: true,
  });
  if (cause instanceof CancelledFailure) {
    const details = cause.details[0] as Partial<ProviderHeartbeat> | undefined;
    return { usage: streamed(details) ? usage(details) : null };
  }
  if (cause instanceof TimeoutFailure) {
    const details = cause.lastHeartbeatDetails as Partial<ProviderHeartbeat> | undefined;
    if (!streamed(details)) return { usage: null };
    if (exact && details.attempt !== undefined) {
      return {
        usage: null,
        unreportedAttempt: {
          attempt: details.attempt,
          inputTokens: details.inputTokens ?? promptTokens,
          outputTokens: details.tokensSoFar,
          failure: `the provider call timed out (${cause.timeoutType}) after ${details.tokensSoFar} streamed tokens`,
        },
      };
    }
    return { usage: exact || legacyTimeouts === 'usage' ? usage(details) : null };
  }
  return { usage: null };
}

function streamed(details: Partial<ProviderHeartbeat> | undefined): details is ProviderHeartbeat {
  return typeof details?.tokensSoFar === 'number' && details.tokensSoFar > 0;
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
