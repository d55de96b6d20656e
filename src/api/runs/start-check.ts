import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { PalyraError } from '../../domain/errors';
import { temporalOverloadOf, temporalRetryAfterSeconds, type TemporalOverload } from '../errors';
import { assertSameRequest } from './idempotency';

/** The admission wait is already spent: whether the run exists is a short question. */
const startCheckDeadlineMs = 3_000;

export interface StartCheck {
  client: Client;
  runId: string;
  workflowId: string;
  /** The digest of this request, compared with the memo of a run an idempotency key named. */
  digest: string;
  /** The server answered the start part of the update-with-start: the run exists. */
  startAccepted: boolean;
}

/**
 * After an update-with-start gave up for want of time or capacity: was the run started? Returns
 * when it was, and the caller answers 202 without `admission`, as when no worker decided in time;
 * throws 503 `temporal_unavailable` with Retry-After when it was not, or when Temporal cannot say.
 * Any other error is rethrown as it is.
 *
 * No hold is left behind either way: only the run workflow's admitRun activity books one, so a run
 * that was not started holds nothing, and a started run goes on to settle or release its own (or
 * the sweeper expires it, should the run die). A start the server was still carrying out when it
 * was asked may land afterwards; that run goes on like any other, and a retry with the same
 * idempotencyKey finds it instead of starting another.
 */
export async function assertStartedDespite(error: unknown, check: StartCheck): Promise<void> {
  const overload = temporalOverloadOf(error);
  if (!overload) throw error;
  if (check.startAccepted) return;
  const { client, workflowId, runId } = check;
  const description = await client.connection
    .withDeadline(Date.now() + startCheckDeadlineMs, () => client.workflow.getHandle(workflowId).describe())
    .catch((describeError: unknown) => {
      if (describeError instanceof WorkflowNotFoundError) return null;
      if (temporalOverloadOf(describeError)) return undefined;
      throw describeError;
    });
  if (description === null) {
    throw unavailableError(
      runId,
      overload,
      false,
      `Temporal did not start run ${runId} in time (${overload}); nothing was booked`,
    );
  }
  if (description === undefined) {
    throw unavailableError(
      runId,
      overload,
      'unknown',
      `Temporal did not answer in time (${overload}) whether run ${runId} started; if it did, it goes on ` +
        `(GET /v1/runs/${runId}) and a retry with the same idempotencyKey returns it`,
    );
  }
  // A run of the same idempotency key started by another request with other parameters is a 409.
  assertSameRequest(description.memo, check.digest, runId);
}

function unavailableError(runId: string, reason: TemporalOverload, started: false | 'unknown', why: string): PalyraError {
  return new PalyraError('temporal_unavailable', `${why}; retry after ${temporalRetryAfterSeconds} s`, {
    runId,
    started,
    reason,
    retryAfterSeconds: temporalRetryAfterSeconds,
  });
}
