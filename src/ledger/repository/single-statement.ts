import { sql, type Insertable } from 'kysely';
import { reachedThresholds, type AlertThreshold, type BudgetPolicy } from '../../domain/budget';
import type { LedgerDatabase } from '../schema';
import type { LedgerContext } from './context';
import { retryingContention } from './transaction';
import type { PolicyWindow, Usage } from './windows';

/**
 * PostgreSQL's common reserve and settle, each one statement: a call of a function that migration
 * 0008 creates and 0009 makes cheaper. One statement is one transaction, so it commits or rolls
 * back whole, and holds the contended window rows only while it runs and commits. The rare cases
 * (a window without room, an overage, a late or repeated settle) go back to the locked paths in
 * reservations.ts.
 */

/** A window the reservation books into, in the global lock order. */
export interface BookedWindow extends PolicyWindow {
  amount: number;
}

export type InFullResult =
  | { status: 'admitted' }
  /** The reservation id was used before: its stored outcome, as JSON. */
  | { status: 'exists'; outcome: string }
  /** Some window has no room for the whole request; nothing was written. `usage` is what each window held, in order. */
  | { status: 'no_room'; usage: Usage[] }
  /** The room went between the function's look and its booking; it rolled back. */
  | { status: 'raced' }
  /** The policies changed since the caller read them (`policiesVersion`); nothing was written. */
  | { status: 'stale' };

/** What a settle needs of its reservation to price it and to check it fits its hold. */
export interface SettleRead {
  state: string;
  expires_at: string;
  amount_micro_usd: number;
  tokens: number;
  input_micro_usd_per_mtok: number;
  output_micro_usd_per_mtok: number;
}

/** The function raises this when a window lost its room after its look (see migration 0008). */
const roomGoneCode = 'PL001';

export function createSingleStatementWrites({ db }: Pick<LedgerContext, 'db'>) {
  async function reserveInFull(request: {
    reservation: Insertable<LedgerDatabase['reservations']>;
    windows: BookedWindow[];
    now: Date;
    /** The `ledger_versions` counter the windows' policies were read at (migration 0010). */
    policiesVersion: number;
  }): Promise<InFullResult> {
    const payload = {
      reservation: request.reservation,
      holds: request.windows.map((w) => ({
        reservation_id: request.reservation.reservation_id,
        policy_id: w.policy.policyId,
        period_key: w.periodKey,
        metric: w.policy.metric,
        amount: w.amount,
      })),
      windows: request.windows.map((w) => ({ ...windowPayload(w), amount: w.amount })),
      now: request.now.toISOString(),
      policies_version: request.policiesVersion,
    };
    try {
      const { rows } = await retryingContention(() =>
        sql<{ result: InFullResult }>`select palyra_reserve_with_policies(${JSON.stringify(payload)}::jsonb) as result`.execute(
          db,
        ),
      );
      return (rows[0] as { result: InFullResult }).result;
    } catch (error) {
      if ((error as { code?: string } | null)?.code === roomGoneCode) return { status: 'raced' };
      throw error;
    }
  }

  /**
   * The reservation a settle prices and checks, in one read (migration 0009's function, whose plan
   * is cached; it also answers the holds and their policies, one row per hold, which no settle
   * within its hold needs any more: it records no alerts).
   */
  async function readForSettle(reservationId: string): Promise<SettleRead | undefined> {
    const { rows } = await sql<SettleRead>`select * from palyra_read_for_settle(${reservationId})`.execute(db);
    return rows[0];
  }

  /**
   * Claims a pending, unexpired reservation whose hold covers the usage (compare-and-set, as the
   * locked settle does) and books it in the same statement. False when it did not match: nothing
   * was written and the locked settle decides.
   */
  async function settleWithinHold(request: {
    reservationId: string;
    cost: number;
    tokens: number;
    resolution: string;
    now: Date;
  }): Promise<boolean> {
    const payload = {
      reservation_id: request.reservationId,
      cost: request.cost,
      tokens: request.tokens,
      resolution: request.resolution,
      now: request.now.toISOString(),
      // No alert windows: each hold is its reservation's whole amount in its metric (a ledger
      // invariant), so a settle within the reservation lowers every window and crosses no threshold.
      windows: {},
    };
    const { rows } = await retryingContention(() =>
      sql<{ settled: boolean }>`select palyra_settle_within_hold(${JSON.stringify(payload)}::jsonb) as settled`.execute(db),
    );
    return rows[0]?.settled === true;
  }

  return { reserveInFull, readForSettle, settleWithinHold };
}

function windowPayload({ policy, periodKey }: PolicyWindow) {
  return { policy_id: policy.policyId, period_key: periodKey, hard_limit: policy.hardLimit, alerts: boundariesOf(policy) };
}

/** alertBoundaries by the policy fields it reads; every reserve and settle asks for them again. */
const knownBoundaries = new Map<string, AlertBoundary[]>();
/** Far more distinct limits than an installation has policies; past it the oldest is forgotten. */
const knownBoundariesLimit = 1_000;

function boundariesOf(policy: Pick<BudgetPolicy, 'hardLimit' | 'softLimit'>): AlertBoundary[] {
  // `${undefined}` and `${null}` differ, as they do to reachedThresholds.
  const key = `${policy.hardLimit}/${policy.softLimit}`;
  let boundaries = knownBoundaries.get(key);
  if (!boundaries) {
    boundaries = alertBoundaries(policy);
    if (knownBoundaries.size >= knownBoundariesLimit) knownBoundaries.delete(knownBoundaries.keys().next().value as string);
    knownBoundaries.set(key, boundaries);
  }
  return boundaries;
}

const thresholds: AlertThreshold[] = ['pct80', 'pct95', 'soft', 'hard'];

export interface AlertBoundary {
  threshold: AlertThreshold;
  reached_from: number;
}

/**
 * For each threshold the policy can reach, the least committed amount (spent + reserved) that
 * reaches it. `reachedThresholds` only ever compares the committed amount against a bound, so a
 * threshold reached at some amount is reached at every larger one, and a write from `before` to
 * `after` crossed exactly the thresholds with before < reachedFrom ≤ after: what recordCrossings
 * records. Found by bisection over the domain's own rule, so the rule stays in one place.
 */
export function alertBoundaries(policy: Pick<BudgetPolicy, 'hardLimit' | 'softLimit'>): AlertBoundary[] {
  return thresholds.flatMap((threshold) => {
    const reaches = (committed: number) => reachedThresholds(policy, committed).includes(threshold);
    // Committed amounts are never negative; from -1 the span (2^53) halves exactly.
    let [low, high] = [-1, Number.MAX_SAFE_INTEGER];
    if (!reaches(high)) return [];
    if (reaches(low)) return [{ threshold, reached_from: low }];
    // Invariant: reaches(high) and not reaches(low).
    while (high - low > 1) {
      const middle = low + Math.floor((high - low) / 2);
      if (reaches(middle)) high = middle;
      else low = middle;
    }
    return [{ threshold, reached_from: high }];
  });
}
