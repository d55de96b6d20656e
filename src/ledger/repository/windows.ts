import { sql, type ExpressionBuilder } from 'kysely';
import { policyApplies, policyWindowKey, reachedThresholds, type BudgetPolicy, type RunScope } from '../../domain/budget';
import type { LedgerDatabase } from '../schema';
import type { Db, LedgerContext } from './context';
import { toPolicy, type StoredPolicy } from './policies';

/** One window of one policy: the row of `policy_windows` (and of its alerts) that spend books into. */
export interface PolicyWindow<P extends BudgetPolicy = BudgetPolicy> {
  policy: P;
  periodKey: string;
}

export interface Usage {
  spent: number;
  reserved: number;
}

/** How far a write moved a window's committed amount (spent + reserved), to find the thresholds it crossed. */
export interface Crossing extends PolicyWindow {
  before: number;
  after: number;
}

export type Windows = ReturnType<typeof createWindows>;

export function createWindows({ db, dialect, afterCommit }: LedgerContext) {
  /** The enabled policies that apply to the scope, each with its current generation's window at `now` (created if new). */
  async function windowsFor(trx: Db, scope: RunScope, now: Date): Promise<PolicyWindow<StoredPolicy>[]> {
    const rows = await trx.selectFrom('budget_policies').selectAll().where('enabled', '=', 1).execute();
    const keys = rows
      .map(toPolicy)
      .filter((policy) => policyApplies(policy, scope))
      .map((policy) => ({ policy, periodKey: policyWindowKey(policy, now) }));
    await ensureWindows(trx, keys);
    return keys;
  }

  /** Window rows are never deleted, so each is created at most once per process (then cached). */
  const knownWindows = new Set<string>();
  async function ensureWindows(trx: Db, keys: PolicyWindow[]): Promise<void> {
    const missing = keys.filter((k) => !knownWindows.has(windowId(k.policy.policyId, k.periodKey))).sort(byWindow);
    if (missing.length === 0) return;
    await trx
      .insertInto('policy_windows')
      .values(missing.map((k) => ({ policy_id: k.policy.policyId, period_key: k.periodKey })))
      .onConflict((oc) => oc.columns(['policy_id', 'period_key']).doNothing())
      .execute();
    // Only after commit is the row certain to exist for other transactions.
    afterCommit(trx, () => missing.forEach((k) => knownWindows.add(windowId(k.policy.policyId, k.periodKey))));
  }

  /** Reads the windows, locked on PostgreSQL in a stable order (no two transactions wait in a cycle). */
  async function lockWindows(trx: Db, keys: PolicyWindow[]): Promise<Map<string, Usage>> {
    const usage = new Map<string, Usage>();
    if (keys.length === 0) return usage;
    let query = trx
      .selectFrom('policy_windows')
      .selectAll()
      .where(inWindows(keys))
      .orderBy(dialect === 'postgres' ? sql`policy_id collate "C"` : sql`policy_id`)
      .orderBy(dialect === 'postgres' ? sql`period_key collate "C"` : sql`period_key`);
    if (dialect === 'postgres') query = query.forUpdate();
    for (const row of await query.execute())
      usage.set(windowId(row.policy_id, row.period_key), { spent: row.spent, reserved: row.reserved });
    return usage;
  }

  /** Current spent and reserved of these windows, unlocked (reports and routing, not admission). */
  async function readWindows(keys: PolicyWindow[]): Promise<(policyId: string, key: string) => Usage> {
    const rows = keys.length === 0 ? [] : await db.selectFrom('policy_windows').selectAll().where(inWindows(keys)).execute();
    const windows = new Map(rows.map((r) => [windowId(r.policy_id, r.period_key), { spent: r.spent, reserved: r.reserved }]));
    return (policyId, key) => windows.get(windowId(policyId, key)) ?? { spent: 0, reserved: 0 };
  }

  return { windowsFor, lockWindows, readWindows };
}

/** Alerts for thresholds a window crossed in this transaction (before < threshold ≤ after); the primary key keeps one per threshold per window. */
export async function recordCrossings(trx: Db, crossings: Crossing[], now: Date): Promise<void> {
  for (const { policy, periodKey: key, before, after } of crossings) {
    const crossed = reachedThresholds(policy, after).filter((t) => !reachedThresholds(policy, before).includes(t));
    for (const threshold of crossed) {
      await trx
        .insertInto('budget_alerts')
        .values({
          policy_id: policy.policyId,
          period_key: key,
          threshold,
          committed: after,
          limit_value: policy.hardLimit,
          created_at: now.toISOString(),
        })
        .onConflict((oc) => oc.columns(['policy_id', 'period_key', 'threshold']).doNothing())
        .execute();
    }
  }
}

/** The rows of exactly these windows, in a table keyed by policy id and period key (windows, alerts). */
export function inWindows(keys: PolicyWindow[]) {
  return (eb: ExpressionBuilder<LedgerDatabase, 'policy_windows' | 'budget_alerts'>) =>
    eb.or(keys.map((k) => eb.and([eb('policy_id', '=', k.policy.policyId), eb('period_key', '=', k.periodKey)])));
}

/**
 * The one global order in which every path locks window rows: by policy id, then period key,
 * compared as UTF-8 bytes. That is SQLite's BINARY collation and PostgreSQL's "C" collation
 * (lockWindows asks for it), whatever the database's default collation, so no two transactions
 * can wait for each other's windows in a cycle.
 */
export function compareWindows(policyA: string, keyA: string, policyB: string, keyB: string): number {
  return Buffer.compare(Buffer.from(policyA), Buffer.from(policyB)) || Buffer.compare(Buffer.from(keyA), Buffer.from(keyB));
}

export const byWindow = (a: PolicyWindow, b: PolicyWindow) =>
  compareWindows(a.policy.policyId, a.periodKey, b.policy.policyId, b.periodKey);

export function windowId(policyId: string, key: string): string {
  return `${policyId}\u0000${key}`;
}
