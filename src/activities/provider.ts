import { ApplicationFailure, Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import { countPromptTokens, countTextTokens, createStreamedTokenCounter } from '../price-catalog/tokens';
import type { LedgerRepository } from '../ledger';
import type { ProviderRegistry } from '../providers/registry';
import type { ProviderHealthMonitor } from '../route-planner/health';
import { ProviderError } from '../providers/types';
import {
  bookingIdOf,
  failureTypes,
  type InvokeProviderInput,
  type InvokeProviderResult,
  type ProviderHeartbeat,
  type RecordedBookingInput,
} from '../temporal/contracts';

type ProviderCall = RecordedBookingInput<InvokeProviderInput>;

/** Heartbeat at least this often while a stream is alive, whatever the heartbeat timeout. */
const keepAliveIntervalMs = 5_000;
/** A hold's lease outlives the attempt's own timeout by this much (the settle that follows it). */
const holdLeaseMarginMs = 5 * 60_000;
/** How often a streaming attempt renews its hold's lease. */
const holdRenewIntervalMs = 60_000;

export interface ProviderActivityDeps {
  providers: ProviderRegistry;
  /** Fed with every call's outcome; routing fails over from providers whose breaker is open. */
  providerHealth?: ProviderHealthMonitor;
  /**
   * Where failed attempts that streamed are recorded (settlement charges them too), and the hold
   * each attempt tops up and keeps alive.
   */
  ledger?: Pick<LedgerRepository, 'recordFailedAttempt' | 'failedAttempts' | 'renewHold'>;
  /** Where a failed lease renewal is reported (the attempt goes on; the next renewal tries again). */
  onRenewalFailed?: (reservationId: string, error: Error) => void;
}

/**
 * The provider call as an activity. It heartbeats on every chunk (the SDK throttles the RPCs), so a
 * stream that stops producing trips `heartbeatTimeout` and is retried, and a cancellation reaches
 * the stream through the heartbeat response and aborts it. Each heartbeat says how many tokens were
 * streamed, so an attempt that dies is still charged for them.
 */
export function createProviderActivities({ providers, providerHealth, ledger, onRenewalFailed }: ProviderActivityDeps) {
  return {
    async invokeProvider(input: ProviderCall): Promise<InvokeProviderResult> {
      const bookingId = bookingIdOf(input);
      const context = Context.current();
      const adapter = providers.get(input.providerId);
      if (!adapter) {
        const reason = providers.unavailable.get(input.providerId) ?? 'it is not configured on this worker';
        throw ApplicationFailure.create({
          type: failureTypes.unknownProvider,
          message: `provider '${input.providerId}' cannot serve model '${input.model}': ${reason}`,
          nonRetryable: true,
        });
      }

      const attempt = input.attempt ?? context.info.attempt;
      const promptTokens = countPromptTokens(input.messages, input.model).inputTokens;
      await chargeCrashedAttempt(context, input, promptTokens, ledger);
      const leaseMs = context.info.startToCloseTimeoutMs + holdLeaseMarginMs;
      await holdForAttempt(input, attempt, promptTokens, leaseMs, ledger);

      let output = '';
      let chunks = 0;
      const counted = createStreamedTokenCounter(input.model);
      let reported: { inputTokens: number; outputTokens: number } | undefined;
      let lastProgressAt = Date.now();
      const progress = (): ProviderHeartbeat => ({
        tokensSoFar: reported?.outputTokens ?? counted.tokens,
        attempt,
        inputTokens: reported?.inputTokens ?? promptTokens,
        progressAt: lastProgressAt,
        providerId: input.providerId,
      });
      let lastRenewalAt = Date.now();
      const stall = new AbortController();
      context.heartbeat(progress());
      // Between chunks, keep the heartbeat going (so a slow but live stream is not timed out) and
      // abort the stream once no chunk has come for stallTimeoutMs: a dead worker is caught by
      // the heartbeat timeout, a live worker on a dead stream by this watchdog.
      const keepAlive = setInterval(
        () => {
          if (Date.now() - lastProgressAt >= input.stallTimeoutMs) return stall.abort();
          context.heartbeat(progress());
          if (ledger && input.reservationId && Date.now() - lastRenewalAt >= holdRenewIntervalMs) {
            lastRenewalAt = Date.now();
            const reservationId = input.reservationId;
            ledger
              .renewHold({ reservationId, expiresAt: new Date(Date.now() + leaseMs) })
              .catch((error: Error) => onRenewalFailed?.(reservationId, error));
          }
        },
        Math.min(keepAliveIntervalMs, Math.max(100, Math.floor(input.stallTimeoutMs / 3))),
      );
      try {
        const response = await adapter.stream(
          {
            runId: bookingId,
            model: input.model,
            messages: input.messages,
            maxOutputTokens: input.maxOutputTokens,
            simulation: input.simulation,
            attempt,
          },
          {
            signal: AbortSignal.any([context.cancellationSignal, stall.signal]),
            onChunk(text) {
              output += text;
              chunks += 1;
              counted.add(text);
              lastProgressAt = Date.now();
              context.heartbeat(progress());
            },
            onUsage(usage) {
              reported = usage;
            },
          },
        );
        // No usage from the provider: count both sides ourselves (never zero for a stream that
        // produced text) and say the figures are estimates.
        const usage = response.usage
          ? { ...response.usage, estimated: false }
          : {
              inputTokens: promptTokens,
              outputTokens: Math.max(chunks > 0 ? 1 : 0, countTextTokens(output, input.model)),
              estimated: true,
            };
        providerHealth?.record(input.providerId, true);
        return { output, usage, finishReason: response.finishReason };
      } catch (error) {
        // Only a cancellation asked for by the workflow is reported back as one (with the tokens,
        // which the workflow charges); a timeout or a lost task is an attempt that failed.
        const cancelled = context.cancellationSignal.aborted && context.cancellationDetails?.cancelRequested !== false;
        if (countsAgainstHealth(error, cancelled)) providerHealth?.record(input.providerId, false);
        const streamed = reported?.outputTokens ?? Math.max(chunks > 0 ? 1 : 0, countTextTokens(output, input.model));
        const failure =
          stall.signal.aborted && !cancelled
            ? ApplicationFailure.create({
                type: failureTypes.providerStreamStalled,
                message: `no chunk from the provider for ${input.stallTimeoutMs} ms after ${streamed} tokens`,
                details: [{ ...progress(), tokensSoFar: streamed }],
              })
            : toActivityFailure(error, { ...progress(), tokensSoFar: streamed }, cancelled);
        if (!cancelled && chunks > 0) {
          // The provider bills what it streamed before failing; the retry must not make that free.
          await ledger?.recordFailedAttempt({
            runId: bookingId,
            attempt,
            inputTokens: reported?.inputTokens ?? promptTokens,
            outputTokens: streamed,
            failure: failure.message,
          });
        }
        throw failure;
      } finally {
        clearInterval(keepAlive);
      }
    },
  };
}

/**
 * Before an attempt calls the provider, the run's hold must cover every attempt already billed
 * plus this one at its maximum (Temporal retries the activity; each retry is billed again). The
 * top-up goes through the ledger's atomic check, so retries can never carry a run past a hard
 * limit; when it does not fit, the attempt is not made. Also renews the hold's lease.
 */
async function holdForAttempt(
  input: ProviderCall,
  attempt: number,
  promptTokens: number,
  leaseMs: number,
  ledger: ProviderActivityDeps['ledger'],
): Promise<void> {
  if (!ledger || !input.reservationId) return;
  // A first attempt has nothing billed before it: spare the read.
  const billed = attempt === 1 ? [] : (await ledger.failedAttempts(bookingIdOf(input))).filter((a) => a.attempt < attempt);
  const outcome = await ledger.renewHold({
    reservationId: input.reservationId,
    expiresAt: new Date(Date.now() + leaseMs),
    cover: {
      inputTokens: billed.reduce((sum, a) => sum + a.inputTokens, promptTokens),
      outputTokens: billed.reduce((sum, a) => sum + a.outputTokens, input.maxOutputTokens),
    },
  });
  if (outcome.status === 'refused') {
    throw ApplicationFailure.create({
      type: failureTypes.budgetExceeded,
      message: `attempt ${attempt} not made: ${outcome.refusal.message}`,
      details: [outcome.refusal],
      nonRetryable: true,
    });
  }
  if (outcome.status === 'not_pending') {
    throw ApplicationFailure.create({
      type: failureTypes.holdLost,
      message:
        `attempt ${attempt} not made: the budget hold ${input.reservationId} is ${outcome.state} ` +
        '(the run was not picked up before its hold expired); nothing was streamed or charged',
      nonRetryable: true,
    });
  }
}

/**
 * An earlier attempt whose worker died mid-stream never reached its catch block; its last
 * heartbeat still says how far it got, and the provider billed that much. Recorded once (the
 * attempt's own record, when it did fail normally, comes first and wins).
 */
async function chargeCrashedAttempt(
  context: Context,
  input: ProviderCall,
  promptTokens: number,
  ledger: ProviderActivityDeps['ledger'],
): Promise<void> {
  const previous = context.info.heartbeatDetails as Partial<ProviderHeartbeat> | undefined;
  const streamed = typeof previous?.tokensSoFar === 'number' ? previous.tokensSoFar : 0;
  if (!ledger || context.info.attempt < 2 || streamed === 0) return;
  await ledger.recordFailedAttempt({
    runId: bookingIdOf(input),
    attempt: previous?.attempt ?? context.info.attempt - 1,
    inputTokens: previous?.inputTokens ?? promptTokens,
    outputTokens: streamed,
    failure: `the attempt stopped after ${streamed} streamed tokens without reporting (worker lost or heartbeat timed out)`,
  });
}

/** Outages count against a provider's breaker; a request it refused or a cancellation do not. */
function countsAgainstHealth(error: unknown, cancelled: boolean): boolean {
  if (cancelled) return false;
  if (error instanceof ProviderError) return error.kind === 'unavailable' || error.kind === 'stream_cut';
  return true; // a stalled stream or an unexpected error
}

function toActivityFailure(error: unknown, progress: ProviderHeartbeat, cancelled: boolean): Error {
  if (!(error instanceof ProviderError)) return error as Error;
  const details = [progress];
  switch (error.kind) {
    case 'aborted':
      // Cancellation: report what was streamed so far, so the run can settle what was consumed.
      return cancelled ? new CancelledFailure(`cancelled after ${progress.tokensSoFar} tokens`, [progress]) : error;
    case 'rate_limited':
      return ApplicationFailure.create({
        type: failureTypes.providerRateLimited,
        message: error.message,
        details,
        nextRetryDelay: error.retryAfterSeconds !== undefined ? `${error.retryAfterSeconds}s` : undefined,
      });
    case 'unavailable':
      return ApplicationFailure.create({ type: failureTypes.providerUnavailable, message: error.message, details });
    case 'stream_cut':
      return ApplicationFailure.create({ type: failureTypes.providerStreamCut, message: error.message, details });
    case 'rejected':
      return ApplicationFailure.create({
        type: failureTypes.providerRejected,
        message: error.message,
        details,
        nonRetryable: true,
      });
  }
}
