import { PalyraError } from '../../domain/errors';
import { maxSpendBuckets, spendBucketStart, type SpendBucket } from '../../ledger';

const dayMs = 24 * 60 * 60_000;
/** Days a daily chart shows by default: today and the 29 before it. */
export const defaultSpendDays = 30;

export interface SpendRange {
  /** The start of the bucket holding the asked-for `since`. */
  since: Date;
  until: Date;
}

/**
 * The range a spend chart covers. `until` defaults to now; `since` to the start of the UTC day
 * holding `until` (hourly), or of the 29 days before it (daily). `since` is widened to the start of
 * its bucket so the first bucket is whole; a range with no bucket, or more than the ledger draws, is
 * a 400 naming the field.
 */
export function spendRange(
  query: { bucket: SpendBucket; since?: string | undefined; until?: string | undefined },
  now: Date,
): SpendRange {
  const until = query.until !== undefined ? new Date(query.until) : now;
  // The day the range ends in: an `until` at midnight ends the day before (it is exclusive).
  const lastDay = spendBucketStart('day', new Date(until.getTime() - 1));
  const fallback = query.bucket === 'hour' ? lastDay : new Date(lastDay.getTime() - (defaultSpendDays - 1) * dayMs);
  const since = spendBucketStart(query.bucket, query.since !== undefined ? new Date(query.since) : fallback);
  // Named as the schema's own errors name query fields, so a client reads every 400 of the route alike.
  const field = query.since !== undefined ? 'querystring.since' : 'querystring.until';
  const refuse = (message: string, details: Record<string, unknown> = {}) =>
    new PalyraError('validation_failed', `invalid request: ${field}: ${message}`, {
      field,
      ...details,
      issues: [{ field, message }],
    });
  if (since.getTime() >= until.getTime()) throw refuse('the range is empty: since must be before until');
  const bucketMs = query.bucket === 'hour' ? dayMs / 24 : dayMs;
  const buckets = Math.ceil((until.getTime() - since.getTime()) / bucketMs);
  const limit = maxSpendBuckets[query.bucket];
  if (buckets > limit) {
    const span = query.bucket === 'hour' ? '31 days' : '366 days';
    throw refuse(`the range holds ${buckets} ${query.bucket} buckets; at most ${limit} (${span})`, { limit });
  }
  return { since, until };
}
