import { sql, type SqlBool } from 'kysely';
import type { LedgerContext } from './context';

export const spendGroupings = ['tenant', 'model', 'policy'] as const;
export type SpendGrouping = (typeof spendGroupings)[number];
export const spendBuckets = ['hour', 'day'] as const;
export type SpendBucket = (typeof spendBuckets)[number];

const bucketMs: Record<SpendBucket, number> = { hour: 60 * 60_000, day: 24 * 60 * 60_000 };
/** Characters of an ISO timestamp that name its bucket: `2026-11-27T10` (hour), `2026-11-27` (day). */
const bucketPrefixLength: Record<SpendBucket, number> = { hour: 13, day: 10 };

/** At most this many buckets per series: a month of hours, a leap year of days. */
export const maxSpendBuckets: Record<SpendBucket, number> = { hour: 24 * 31, day: 366 };
/** Series beyond this many (by total spend) are summed into one, keyed {@link otherSpendKey}. */
export const maxSpendSeries = 20;
export const otherSpendKey = '(other)';

/** The start of the UTC hour or day that holds `at`. */
export function spendBucketStart(bucket: SpendBucket, at: Date): Date {
  return new Date(Math.floor(at.getTime() / bucketMs[bucket]) * bucketMs[bucket]);
}

/** Starts of the buckets a range shows: from the bucket holding `since` to the last one starting before `until`. */
export function spendBucketStarts(bucket: SpendBucket, since: Date, until: Date): Date[] {
  const starts: Date[] = [];
  for (let t = spendBucketStart(bucket, since).getTime(); t < until.getTime(); t += bucketMs[bucket]) starts.push(new Date(t));
  return starts;
}

export interface SpendQuery {
  groupBy: SpendGrouping;
  bucket: SpendBucket;
  /** Widened to the start of its bucket, so the first bucket is whole. */
  since: Date;
  /** Exclusive. */
  until: Date;
  /** Only these tenants' spend; undefined: every tenant. */
  tenants?: readonly string[];
  /** With `groupBy: 'policy'`, only these policies; undefined: every policy, deleted ones included. */
  policyIds?: readonly string[];
}

export interface SpendPoint {
  start: string;
  costMicroUsd: number;
  tokens: number;
}

export interface SpendSeries {
  key: string;
  totalMicroUsd: number;
  points: SpendPoint[];
}

export interface SpendReport {
  since: string;
  until: string;
  series: SpendSeries[];
}

/**
 * Settled spend over time, for charts. The source is what settlement booked: a settled reservation's
 * `settled_micro_usd` and `settled_tokens` at its `resolved_at` (a reservation is settled once, so
 * every charge of a run or task attempt counts exactly once, whatever policies applied). By policy,
 * each usage record (one per policy window the reservation held) counts its reservation's charge
 * under that policy, so a run under several policies appears in each.
 */
export function createSpend({ db, dialect }: LedgerContext) {
  /** Text ordered as UTF-8 bytes on both dialects, so ties between equal totals break alike. */
  const byteOrder = (column: string) => (dialect === 'postgres' ? sql`${sql.ref(column)} collate "C"` : sql.ref(column));
  // PostgreSQL sums bigints as numeric, which arrives as a string.
  const costSum = sql<number | string>`sum(${sql.ref('r.settled_micro_usd')})`;
  const tokenSum = sql<number | string>`sum(${sql.ref('r.settled_tokens')})`;

  /** Settled reservations in the range and visible to the caller; by policy, one row per usage record. */
  function settledRows(query: SpendQuery, since: Date) {
    return db
      .selectFrom('reservations as r')
      .where('r.state', '=', 'settled')
      .where('r.resolved_at', '>=', since.toISOString())
      .where('r.resolved_at', '<', query.until.toISOString())
      .$if(query.tenants !== undefined, (qb) => qb.where('r.tenant_id', 'in', query.tenants as string[]))
      .$if(query.groupBy === 'policy', (qb) =>
        qb
          .innerJoin('usage_records as u', 'u.reservation_id', 'r.reservation_id')
          .$if(query.policyIds !== undefined, (joined) => joined.where('u.policy_id', 'in', query.policyIds as string[])),
      );
  }

  async function spendReport(query: SpendQuery): Promise<SpendReport> {
    const since = spendBucketStart(query.bucket, query.since);
    const starts = spendBucketStarts(query.bucket, since, query.until);
    if (starts.length > maxSpendBuckets[query.bucket]) {
      throw new RangeError(`${starts.length} ${query.bucket} buckets asked for; at most ${maxSpendBuckets[query.bucket]}`);
    }
    const range = { since: since.toISOString(), until: query.until.toISOString() };
    // `in ()` is not SQL: a caller who may see nothing gets nothing.
    if (query.tenants?.length === 0 || (query.groupBy === 'policy' && query.policyIds?.length === 0)) {
      return { ...range, series: [] };
    }

    const keyColumn = query.groupBy === 'tenant' ? 'r.tenant_id' : query.groupBy === 'model' ? 'r.model_id' : 'u.policy_id';
    const key = sql<string>`${sql.ref(keyColumn)}`;
    const rows = settledRows(query, since);
    // One more than are shown, to learn whether the rest needs an `(other)` series.
    const totals = await rows
      .select([key.as('key'), costSum.as('total')])
      .groupBy(key)
      .orderBy('total', 'desc')
      .orderBy(byteOrder(keyColumn))
      .limit(maxSpendSeries + 1)
      .execute();
    const shown = totals.slice(0, maxSpendSeries).map((t) => t.key);
    if (shown.length === 0) return { ...range, series: [] };

    // Cut on the text, so both dialects bucket alike: timestamps are stored as ISO-8601 UTC text.
    const bucketOf = sql<string>`substr(${sql.ref('r.resolved_at')}, 1, ${sql.lit(bucketPrefixLength[query.bucket])})`;
    const inShown = sql<SqlBool>`${key} in (${sql.join(shown)})`;
    const byKey = await rows
      .select([key.as('key'), bucketOf.as('bucket'), costSum.as('cost'), tokenSum.as('tokens')])
      .where(inShown)
      .groupBy([key, bucketOf])
      .execute();
    const series = shown.map((k) => ({ key: k, rows: byKey.filter((row) => row.key === k) }));
    if (totals.length > maxSpendSeries) {
      const rest = await rows
        .select([bucketOf.as('bucket'), costSum.as('cost'), tokenSum.as('tokens')])
        .where(sql<SqlBool>`not (${inShown})`)
        .groupBy(bucketOf)
        .execute();
      series.push({ key: otherSpendKey, rows: rest.map((row) => ({ ...row, key: otherSpendKey })) });
    }

    const prefix = bucketPrefixLength[query.bucket];
    return {
      ...range,
      series: series.map(({ key: seriesKey, rows: seriesRows }) => {
        const byBucket = new Map(seriesRows.map((row) => [row.bucket, row]));
        const points = starts.map((start) => {
          const iso = start.toISOString();
          const found = byBucket.get(iso.slice(0, prefix));
          return { start: iso, costMicroUsd: Number(found?.cost ?? 0), tokens: Number(found?.tokens ?? 0) };
        });
        return { key: seriesKey, totalMicroUsd: points.reduce((sum, p) => sum + p.costMicroUsd, 0), points };
      }),
    };
  }

  return { spendReport };
}
