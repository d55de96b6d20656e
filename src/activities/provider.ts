import { ApplicationFailure, Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import { countPromptTokens, countTextTokens } from '../pricing/tokens';
import type { LedgerRepository } from '../ledger';
import type { ProviderRegistry } from '../providers/registry';
import type { ProviderHealthMonitor } from '../routing/health';
import { ProviderError } from '../providers/types';
import { failureTypes, type InvokeProviderInput, type InvokeProviderResult, type ProviderHeartbeat } from '../temporal/contracts';

/** Heartbeat at least this often while a stream is alive, whatever the heartbeat timeout. */
const keepAliveIntervalMs = 5_000;

export interface ProviderActivityDeps {
  providers: ProviderRegistry;
  /** Fed with every call's outcome; routing fails over from providers whose breaker is open. */
  providerHealth?: ProviderHealthMonitor;
  /** Where failed attempts that streamed are recorded, so settlement charges them too. */
  ledger?: Pick<LedgerRepository, 'recordFailedAttempt'>;
}

/**
 * The provider call as an activity. It heartbeats on every chunk (the SDK throttles the RPCs), so a
 * stream that stops producing trips `heartbeatTimeout` and is retried, and a cancellation reaches
 * the stream through the heartbeat response and aborts it.
 */
export function createProviderActivities({ providers, providerHealth, ledger }: ProviderActivityDeps) {
  return {
    async invokeProvider(input: InvokeProviderInput): Promise<InvokeProviderResult> {
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

      await chargeCrashedAttempt(context, input, ledger);
      let output = '';
      let tokensSoFar = 0;
      let lastProgressAt = Date.now();
      const stall = new AbortController();
      context.heartbeat({ tokensSoFar } satisfies ProviderHeartbeat);
      // Between chunks, keep the heartbeat going (so a slow but live stream is not timed out) and
      // abort the stream once no chunk has come for stallTimeoutMs: a dead worker is caught by
      // the heartbeat timeout, a live worker on a dead stream by this watchdog.
      const keepAlive = setInterval(
        () => {
          if (Date.now() - lastProgressAt >= input.stallTimeoutMs) stall.abort();
          else context.heartbeat({ tokensSoFar } satisfies ProviderHeartbeat);
        },
        Math.min(keepAliveIntervalMs, Math.max(100, Math.floor(input.stallTimeoutMs / 3))),
      );
      try {
        const response = await adapter.stream(
          {
            runId: input.runId,
            model: input.model,
            messages: input.messages,
            maxOutputTokens: input.maxOutputTokens,
            simulation: input.simulation,
            attempt: input.attempt ?? context.info.attempt,
          },
          {
            signal: AbortSignal.any([context.cancellationSignal, stall.signal]),
            onChunk(text) {
              output += text;
              tokensSoFar += 1;
              lastProgressAt = Date.now();
              context.heartbeat({ tokensSoFar } satisfies ProviderHeartbeat);
            },
          },
        );
        // No usage from the provider: count both sides ourselves (never zero for a stream that
        // produced text) and say the figures are estimates.
        const usage = response.usage
          ? { ...response.usage, estimated: false }
          : {
              inputTokens: countPromptTokens(input.messages, input.model).inputTokens,
              outputTokens: Math.max(tokensSoFar > 0 ? 1 : 0, countTextTokens(output, input.model)),
              estimated: true,
            };
        providerHealth?.record(input.providerId, true);
        return { output, usage, finishReason: response.finishReason };
      } catch (error) {
        const cancelled = context.cancellationSignal.aborted;
        if (countsAgainstHealth(error, cancelled)) providerHealth?.record(input.providerId, false);
        const failure =
          stall.signal.aborted && !cancelled
            ? ApplicationFailure.create({
                type: failureTypes.providerStreamStalled,
                message: `no chunk from the provider for ${input.stallTimeoutMs} ms after ${tokensSoFar} tokens`,
                details: [{ tokensSoFar }],
              })
            : toActivityFailure(error, tokensSoFar);
        if (!cancelled && tokensSoFar > 0) {
          // The provider bills what it streamed before failing; the retry must not make that free.
          await ledger?.recordFailedAttempt({
            runId: input.runId,
            attempt: input.attempt ?? context.info.attempt,
            inputTokens: countPromptTokens(input.messages, input.model).inputTokens,
            outputTokens: Math.max(1, countTextTokens(output, input.model)),
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
 * An earlier attempt whose worker died mid-stream never reached its catch block; its last
 * heartbeat still says how far it got, and the provider billed that much. Recorded once (the
 * attempt's own record, when it did fail normally, comes first and wins).
 */
async function chargeCrashedAttempt(
  context: Context,
  input: InvokeProviderInput,
  ledger: Pick<LedgerRepository, 'recordFailedAttempt'> | undefined,
): Promise<void> {
  const previous = context.info.heartbeatDetails as Partial<ProviderHeartbeat> | undefined;
  const streamed = typeof previous?.tokensSoFar === 'number' ? previous.tokensSoFar : 0;
  if (!ledger || context.info.attempt < 2 || streamed === 0) return;
  await ledger.recordFailedAttempt({
    runId: input.runId,
    attempt: context.info.attempt - 1,
    inputTokens: countPromptTokens(input.messages, input.model).inputTokens,
    outputTokens: streamed,
    failure: `the attempt stopped after ${streamed} streamed chunks without reporting (worker lost or heartbeat timed out)`,
  });
}

/** Outages count against a provider's breaker; a request it refused or a cancellation do not. */
function countsAgainstHealth(error: unknown, cancelled: boolean): boolean {
  if (cancelled) return false;
  if (error instanceof ProviderError) return error.kind === 'unavailable' || error.kind === 'stream_cut';
  return true; // a stalled stream or an unexpected error
}

function toActivityFailure(error: unknown, tokensSoFar: number): Error {
  if (!(error instanceof ProviderError)) return error as Error;
  const details = [{ tokensSoFar }];
  switch (error.kind) {
    case 'aborted':
      // Cancellation: report what was streamed so far, so the run can settle what was consumed.
      return Context.current().cancellationSignal.aborted
        ? new CancelledFailure(`cancelled after ${tokensSoFar} tokens`, [{ tokensSoFar } satisfies ProviderHeartbeat])
        : error;
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
