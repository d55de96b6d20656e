import type { Selectable } from 'kysely';
import { generationOfKey, startsNewGeneration, type BudgetPolicy } from '../../domain/budget';
import type { LedgerDatabase } from '../schema';
import type { Db, LedgerContext } from './context';
import { LedgerConflictError } from './errors';

export type PolicySource = 'api' | 'config';
export interface StoredPolicy extends BudgetPolicy {
  source: PolicySource;
  /**
   * Which generation of windows the policy books into (read-only): 1 at first, bumped whenever
   * its metric, window or scope changes, so spend booked under the old definition stays in the
   * old windows. Window keys past generation 1 carry it (`2026-11-27#g2`).
   */
  generation: number;
  createdAt: string;
  updatedAt: string;
}

type PolicyRow = Selectable<LedgerDatabase['budget_policies']>;
export type Policies = ReturnType<typeof createPolicies>;

export function createPolicies({ db, dialect, clock, writeTransaction }: LedgerContext) {
  async function listPolicies(): Promise<StoredPolicy[]> {
    const rows = await db.selectFrom('budget_policies').selectAll().orderBy('policy_id').execute();
    return rows.map(toPolicy);
  }

  async function getPolicy(policyId: string): Promise<StoredPolicy | undefined> {
    const row = await db.selectFrom('budget_policies').selectAll().where('policy_id', '=', policyId).executeTakeFirst();
    return row ? toPolicy(row) : undefined;
  }

  async function putPolicy(
    policy: BudgetPolicy,
    source: PolicySource = 'api',
  ): Promise<{ policy: StoredPolicy; created: boolean }> {
    return writeTransaction(async (trx) => {
      const existing = await lockPolicy(trx, policy.policyId);
      if (existing && existing.source === 'config' && source === 'api') {
        throw new LedgerConflictError(`policy '${policy.policyId}' is declared in the config file; change it there`);
      }
      const now = clock().toISOString();
      const values = await definePolicy(trx, existing, policy, source, now);
      return { policy: toPolicy(values), created: !existing };
    });
  }

  async function deletePolicy(policyId: string): Promise<boolean> {
    return writeTransaction(async (trx) => {
      const existing = await trx
        .selectFrom('budget_policies')
        .select('source')
        .where('policy_id', '=', policyId)
        .executeTakeFirst();
      if (!existing) return false;
      if (existing.source === 'config') {
        throw new LedgerConflictError(`policy '${policyId}' is declared in the config file; remove it there`);
      }
      // Windows stay: reservations still holding them must be able to settle and release. A policy
      // created again under this id starts a generation above them (see generationFor).
      await trx.deleteFrom('budget_policies').where('policy_id', '=', policyId).execute();
      return true;
    });
  }

  /** Makes the config-declared policies exactly those given (start-up). */
  async function syncConfigPolicies(policies: BudgetPolicy[]): Promise<void> {
    await writeTransaction(async (trx) => {
      const now = clock().toISOString();
      const ids = policies.map((p) => p.policyId);
      let stale = trx.deleteFrom('budget_policies').where('source', '=', 'config');
      if (ids.length > 0) stale = stale.where('policy_id', 'not in', ids);
      await stale.execute();
      for (const policy of policies) {
        await definePolicy(trx, await lockPolicy(trx, policy.policyId), policy, 'config', now);
      }
    });
  }

  /** Writes a policy's (new) definition over its locked row, or as a new row; returns what it wrote. */
  async function definePolicy(
    trx: Db,
    existing: PolicyRow | undefined,
    policy: BudgetPolicy,
    source: PolicySource,
    now: string,
  ): Promise<PolicyRow> {
    const generation = await generationFor(trx, existing, policy);
    const values = fromPolicy(policy, source, existing?.created_at ?? now, now, generation);
    if (existing) await trx.updateTable('budget_policies').set(values).where('policy_id', '=', policy.policyId).execute();
    else await trx.insertInto('budget_policies').values(values).execute();
    return values;
  }

  /** A policy's row, locked on PostgreSQL so that two concurrent changes cannot both take the same next generation. */
  async function lockPolicy(trx: Db, policyId: string): Promise<PolicyRow | undefined> {
    const query = trx.selectFrom('budget_policies').selectAll().where('policy_id', '=', policyId);
    return (dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirst();
  }

  return { listPolicies, getPolicy, putPolicy, deletePolicy, syncConfigPolicies };
}

/**
 * The generation a (re)definition of a policy gets. An update keeps the current one unless it
 * changes the metric, window or scope (then the next one: a fresh window, while holds made
 * under the old definition settle into their own old windows). A policy id seen for the first
 * time is generation 1; one re-created after a delete starts above the windows the deleted
 * policy left behind, since nothing records what unit or scope those were kept in.
 */
async function generationFor(trx: Db, existing: PolicyRow | undefined, policy: BudgetPolicy): Promise<number> {
  if (existing) return startsNewGeneration(toPolicy(existing), policy) ? existing.generation + 1 : existing.generation;
  const windows = await trx.selectFrom('policy_windows').select('period_key').where('policy_id', '=', policy.policyId).execute();
  return windows.length === 0 ? 1 : windows.reduce((top, w) => Math.max(top, generationOfKey(w.period_key)), 1) + 1;
}

export function toPolicy(row: PolicyRow): StoredPolicy {
  return {
    policyId: row.policy_id,
    scope:
      row.scope_id === null
        ? { kind: row.scope_kind as BudgetPolicy['scope']['kind'] }
        : { kind: row.scope_kind as BudgetPolicy['scope']['kind'], id: row.scope_id },
    metric: row.metric as BudgetPolicy['metric'],
    window: row.window as BudgetPolicy['window'],
    ...(row.soft_limit !== null ? { softLimit: row.soft_limit } : {}),
    hardLimit: row.hard_limit,
    action: row.action as BudgetPolicy['action'],
    enabled: row.enabled === 1,
    source: row.source as PolicySource,
    generation: row.generation,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function fromPolicy(
  policy: BudgetPolicy,
  source: PolicySource,
  createdAt: string,
  updatedAt: string,
  generation: number,
): PolicyRow {
  return {
    policy_id: policy.policyId,
    scope_kind: policy.scope.kind,
    scope_id: policy.scope.id ?? null,
    metric: policy.metric,
    window: policy.window,
    soft_limit: policy.softLimit ?? null,
    hard_limit: policy.hardLimit,
    action: policy.action,
    enabled: policy.enabled ? 1 : 0,
    source,
    created_at: createdAt,
    updated_at: updatedAt,
    generation,
  };
}
