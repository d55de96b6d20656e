import { sql, type ExpressionBuilder, type Insertable, type Selectable } from 'kysely';
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

  /**
   * The policies as this process last read them, with the `ledger_versions` counter they were read
   * at (one statement, so the two agree). Only for the single-statement reserve on PostgreSQL,
   * which hands the version to the database and is told 'stale' when the policies moved since.
   */
  let keptPolicies: { version: number; policies: StoredPolicy[] } | undefined;
  async function windowsOfKeptPolicies(
    scope: RunScope,
    now: Date,
  ): Promise<{ keys: PolicyWindow<StoredPolicy>[]; policiesVersion: number }> {
    // Kept in a local: a concurrent reserve may forget the kept policies while this one awaits.
    let kept = keptPolicies;
    if (!kept) {
      const { rows } = await sql<Selectable<LedgerDatabase['budget_policies']> & { policies_version: number }>`
        select v.version as policies_version, p.* from ledger_versions v left join budget_policies p on true
        where v.name = 'budget_policies'`.execute(db);
      const version = Number(rows[0]?.policies_version ?? 0);
      kept = { version, policies: rows.filter((row) => row.policy_id !== null).map(toPolicy) };
      // A slower read that started before a newer one finished must not replace what it kept.
      if (!keptPolicies || keptPolicies.version <= version) keptPolicies = kept;
    }
    const keys = kept.policies
      .filter((policy) => policyApplies(policy, scope))
      .map((policy) => ({ policy, periodKey: policyWindowKey(policy, now) }));
    await ensureWindows(db, keys);
    return { keys, policiesVersion: kept.version };
  }

  /** The kept policies are out of date: the next call reads them again. */
  function forgetKeptPolicies(): void {
    keptPolicies = undefined;
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

  return { windowsFor, windowsOfKeptPolicies, forgetKeptPolicies, lockWindows, readWindows };
}

/**
 * The alerts for the thresholds each window crossed (before < threshold ≤ after), one row per
 * threshold per window; whoever stores them keeps the first (the primary key).
 */
export function crossingAlerts(crossings: Crossing[], now: Date): Insertable<LedgerDatabase['budget_alerts']>[] {
  return crossings.flatMap(({ policy, periodKey, before, after }) =>
    reachedThresholds(policy, after)
      .filter((threshold) => !reachedThresholds(policy, before).includes(threshold))
      .map((threshold) => ({
        policy_id: policy.policyId,
        period_key: periodKey,
        threshold,
        committed: after,
        limit_value: policy.hardLimit,
        created_at: now.toISOString(),
      })),
  );
}

/** Records the alerts of the thresholds the windows crossed in this transaction. */
export async function recordCrossings(trx: Db, crossings: Crossing[], now: Date): Promise<void> {
  for (const alert of crossingAlerts(crossings, now)) {
    await trx
      .insertInto('budget_alerts')
      .values(alert)
      .onConflict((oc) => oc.columns(['policy_id', 'period_key', 'threshold']).doNothing())
      .execute();
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
