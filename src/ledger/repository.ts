import { sql, type Kysely, type Selectable } from 'kysely';
import {
  decideAdmission,
  evaluateBudgets,
  generationOfKey,
  policyApplies,
  policyWindowKey,
  reachedThresholds,
  startsNewGeneration,
  type AdmissionDecision,
  type BudgetPolicy,
  type BudgetRefusal,
  type BudgetRequest,
  type Hold,
  type PolicyEvaluation,
  type RunScope,
} from '../domain/budget';
import { costMicroUsd, type ModelPrice } from '../domain/pricing';
import type { RoutingDecision } from '../domain/routing';
import type { LedgerConnection } from './database';
import type { LedgerDatabase } from './schema';

export class LedgerNotFoundError extends Error {
  override readonly name = 'LedgerNotFoundError';
}

/** A change the ledger refuses because of what is already there (e.g. editing a config policy). */
export class LedgerConflictError extends Error {
  override readonly name = 'LedgerConflictError';
}

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

export interface ReserveRequest {
  reservationId: string;
  runId: string;
  scope: RunScope;
  inputTokens: number;
  maxOutputTokens: number;
  price: ModelPrice;
  catalogVersion: string;
  expiresAt: Date;
  /** Fewest output tokens worth running with when clamping (default 1). */
  minOutputTokens?: number;
  /** An approval lets the reservation pass `approval_required` policies; it is recorded. */
  approvalOverride?: { approvalId: string; approvedBy: string; note?: string };
}

export type ReserveOutcome =
  | {
      status: 'admitted';
      reservationId: string;
      amountMicroUsd: number;
      tokens: number;
      maxOutputTokens: number;
      clamped: boolean;
      catalogVersion: string;
      overriddenPolicyIds: string[];
    }
  | { status: 'refused'; reservationId: string; refusal: BudgetRefusal };

export interface SettleRequest {
  reservationId: string;
  actual: { inputTokens: number; outputTokens: number };
  /** Why usage exceeded the reservation, when it did (recorded with the overage). */
  overageReason?: string;
}

export type ResolutionOutcome =
  | {
      status: 'settled';
      reservationId: string;
      costMicroUsd: number;
      tokens: number;
      overage: boolean;
      /** Settled after the sweeper had expired the hold: booked as spend all the same. */
      afterExpiry?: true;
    }
  | { status: 'released' | 'expired'; reservationId: string };

/** The overage reason of a settle that arrived after its hold had expired. */
export const settledAfterExpiry = 'settled_after_expiry';

export interface RenewHoldRequest {
  reservationId: string;
  /** The hold lives at least until then (never shortened). */
  expiresAt: Date;
  /** Total usage the hold must cover from now on, priced at the reservation's prices; raised if short. */
  cover?: { inputTokens: number; outputTokens: number };
}

export type RenewHoldOutcome =
  | {
      status: 'held';
      reservationId: string;
      amountMicroUsd: number;
      tokens: number;
      toppedUp: boolean;
      expiresAt: string;
    }
  | { status: 'refused'; reservationId: string; refusal: BudgetRefusal }
  | { status: 'not_pending'; reservationId: string; state: string };

export interface WindowReport {
  policyId: string;
  scope: BudgetPolicy['scope'];
  metric: BudgetPolicy['metric'];
  window: BudgetPolicy['window'];
  periodKey: string;
  spent: number;
  reserved: number;
  limit: number;
  softLimit?: number;
  utilization: number;
  status: PolicyEvaluation['status'];
  enabled: boolean;
  alerts: { threshold: string; committed: number; limit: number; createdAt: string }[];
}

export interface LedgerRepositoryOptions {
  connection: LedgerConnection;
  clock?: () => Date;
  /**
   * Called between the statements of reserve and settle. Tests throw here to prove that a crash
   * at any point leaves the ledger as it was before the call.
   */
  checkpoint?: (point: string) => void | Promise<void>;
}

type Db = Kysely<LedgerDatabase>;
type PolicyRow = Selectable<LedgerDatabase['budget_policies']>;
type ReservationRow = Selectable<LedgerDatabase['reservations']>;

export type LedgerRepository = ReturnType<typeof createLedgerRepository>;

export function createLedgerRepository({
  connection,
  clock = () => new Date(),
  checkpoint = () => undefined,
}: LedgerRepositoryOptions) {
  const { db, dialect } = connection;

  /**
   * One write transaction. SQLite: BEGIN IMMEDIATE takes the write lock up front, so two
   * processes never both read the same headroom. PostgreSQL: the window rows are locked with
   * SELECT … FOR UPDATE inside the transaction (see lockWindows).
   */
  async function writeTransaction<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await writeTransactionOnce(fn);
      } catch (error) {
        // A deadlock, a lock wait past lock_timeout or a serialization failure rolled the whole
        // transaction back: run it again (it re-reads everything), so callers never see them.
        if (attempt >= maxTransactionAttempts || !isContention(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt * (0.5 + Math.random())));
      }
    }
  }

  async function writeTransactionOnce<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    const committed: (() => void)[] = [];
    const run = async (trx: Db) => {
      commitHooks.set(trx, committed);
      return fn(trx);
    };
    const result =
      dialect === 'postgres'
        ? await db.transaction().execute(run)
        : await db.connection().execute(async (conn) => {
            await sql`begin immediate`.execute(conn);
            try {
              const value = await run(conn);
              await sql`commit`.execute(conn);
              return value;
            } catch (error) {
              await sql`rollback`.execute(conn);
              throw error;
            }
          });
    committed.forEach((hook) => hook());
    return result;
  }

  const commitHooks = new WeakMap<Db, (() => void)[]>();
  function afterCommit(trx: Db, hook: () => void): void {
    commitHooks.get(trx)?.push(hook);
  }

  // ---- policies ---------------------------------------------------------------------------------

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
      const generation = await generationFor(trx, existing, policy);
      const values = fromPolicy(policy, source, existing?.created_at ?? now, now, generation);
      if (existing) await trx.updateTable('budget_policies').set(values).where('policy_id', '=', policy.policyId).execute();
      else await trx.insertInto('budget_policies').values(values).execute();
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
        const existing = await lockPolicy(trx, policy.policyId);
        const generation = await generationFor(trx, existing, policy);
        const values = fromPolicy(policy, 'config', existing?.created_at ?? now, now, generation);
        if (existing) await trx.updateTable('budget_policies').set(values).where('policy_id', '=', policy.policyId).execute();
        else await trx.insertInto('budget_policies').values(values).execute();
      }
    });
  }

  /** A policy's row, locked on PostgreSQL so that two concurrent changes cannot both take the same next generation. */
  async function lockPolicy(trx: Db, policyId: string): Promise<PolicyRow | undefined> {
    const query = trx.selectFrom('budget_policies').selectAll().where('policy_id', '=', policyId);
    return (dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirst();
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
    const windows = await trx
      .selectFrom('policy_windows')
      .select('period_key')
      .where('policy_id', '=', policy.policyId)
      .execute();
    return windows.length === 0 ? 1 : windows.reduce((top, w) => Math.max(top, generationOfKey(w.period_key)), 1) + 1;
  }

  // ---- price overrides --------------------------------------------------------------------------

  async function listPriceOverrides(): Promise<{ overrides: Map<string, ModelPrice>; revision: number }> {
    const [rows, revision] = await Promise.all([
      db.selectFrom('pricing_overrides').selectAll().execute(),
      db.selectFrom('ledger_meta').select('value').where('key', '=', 'pricing_revision').executeTakeFirst(),
    ]);
    const overrides = new Map(
      rows.map((r) => [
        r.model_id,
        { inputMicroUsdPerMTok: r.input_micro_usd_per_mtok, outputMicroUsdPerMTok: r.output_micro_usd_per_mtok },
      ]),
    );
    return { overrides, revision: Number(revision?.value ?? 0) };
  }

  /** Sets a model's price; bumps the pricing revision so the catalog version changes. */
  async function putPriceOverride(modelId: string, price: ModelPrice): Promise<number> {
    return writeTransaction(async (trx) => {
      const values = {
        model_id: modelId,
        input_micro_usd_per_mtok: price.inputMicroUsdPerMTok,
        output_micro_usd_per_mtok: price.outputMicroUsdPerMTok,
        updated_at: clock().toISOString(),
      };
      await trx
        .insertInto('pricing_overrides')
        .values(values)
        .onConflict((oc) => oc.column('model_id').doUpdateSet(values))
        .execute();
      const current = await trx
        .selectFrom('ledger_meta')
        .select('value')
        .where('key', '=', 'pricing_revision')
        .executeTakeFirstOrThrow();
      const revision = Number(current.value) + 1;
      await trx
        .updateTable('ledger_meta')
        .set({ value: String(revision) })
        .where('key', '=', 'pricing_revision')
        .execute();
      return revision;
    });
  }

  // ---- reservations -----------------------------------------------------------------------------

  /**
   * Checks every applicable policy window and books the hold in one transaction. A repeated call
   * with the same reservation id returns the first outcome and books nothing.
   */
  async function reserve(request: ReserveRequest): Promise<ReserveOutcome> {
    try {
      if (!request.approvalOverride) {
        const admitted = await reserveInFull(request);
        if (admitted) return admitted;
      }
      return await reserveWithAdmission(request);
    } catch (error) {
      // Two concurrent calls with the same id: the loser returns the winner's outcome.
      if (!isUniqueViolation(error)) throw error;
      const stored = await storedOutcome(db, request.reservationId);
      if (!stored) throw error;
      return stored;
    }
  }

  /**
   * The common case, kept short under the lock: write the reservation and its holds first (new
   * rows nobody else touches), then book each window with a conditional UPDATE as the last
   * statements, so the contended window rows stay locked only for those updates and the commit.
   * Returns null (after rolling back) when the full request does not fit anywhere; the admission
   * path then decides between clamping and refusing.
   */
  async function reserveInFull(request: ReserveRequest): Promise<ReserveOutcome | null> {
    try {
      return await writeTransaction(async (trx) => {
        const existing = await storedOutcome(trx, request.reservationId);
        if (existing) return existing;
        const now = clock();
        const keys = await windowsFor(trx, request.scope, now);
        const amounts = {
          cost: costMicroUsd(request.price, { inputTokens: request.inputTokens, outputTokens: request.maxOutputTokens }),
          tokens: request.inputTokens + request.maxOutputTokens,
        };
        const outcome: ReserveOutcome = {
          status: 'admitted',
          reservationId: request.reservationId,
          amountMicroUsd: amounts.cost,
          tokens: amounts.tokens,
          maxOutputTokens: request.maxOutputTokens,
          clamped: false,
          catalogVersion: request.catalogVersion,
          overriddenPolicyIds: [],
        };
        await insertReservation(trx, request, now, outcome);
        await checkpoint('reserve:reservation-inserted');
        await insertHolds(
          trx,
          request.reservationId,
          keys.map(({ policy, periodKey: key }) => ({
            policyId: policy.policyId,
            periodKey: key,
            metric: policy.metric,
            amount: amounts[policy.metric],
          })),
        );
        const crossings: Crossing[] = [];
        for (const { policy, periodKey: key } of [...keys].sort(byWindow)) {
          const amount = amounts[policy.metric];
          const booked = await trx
            .updateTable('policy_windows')
            .set((eb) => ({ reserved: eb('reserved', '+', amount) }))
            .where('policy_id', '=', policy.policyId)
            .where('period_key', '=', key)
            .where((eb) => eb(eb(eb.ref('spent'), '+', eb.ref('reserved')), '<=', policy.hardLimit - amount))
            .returning(['spent', 'reserved'])
            .executeTakeFirst();
          if (!booked) throw new DoesNotFitInFull();
          crossings.push({
            policy,
            periodKey: key,
            before: booked.spent + booked.reserved - amount,
            after: booked.spent + booked.reserved,
          });
          await checkpoint(`reserve:hold-booked:${policy.policyId}`);
        }
        await recordCrossings(trx, crossings, now);
        return outcome;
      });
    } catch (error) {
      if (error instanceof DoesNotFitInFull) return null;
      throw error;
    }
  }

  /** Clamping, refusals and approval overrides: reads the locked windows and decides in full. */
  async function reserveWithAdmission(request: ReserveRequest): Promise<ReserveOutcome> {
    return writeTransaction(async (trx) => {
      const existing = await storedOutcome(trx, request.reservationId);
      if (existing) return existing;

      const now = clock();
      const keys = await windowsFor(trx, request.scope, now);
      const usage = await lockWindows(trx, keys);
      await checkpoint('reserve:windows-locked');

      const decision: AdmissionDecision = decideAdmission(
        keys.map(({ policy, periodKey: key }) => ({
          policy,
          periodKey: key,
          usage: usage.get(windowId(policy.policyId, key)) as Usage,
        })),
        {
          inputTokens: request.inputTokens,
          maxOutputTokens: request.maxOutputTokens,
          price: request.price,
          minOutputTokens: request.minOutputTokens ?? 1,
          approvalOverride: request.approvalOverride !== undefined,
        },
      );
      const outcome: ReserveOutcome = decision.admitted
        ? {
            status: 'admitted',
            reservationId: request.reservationId,
            amountMicroUsd: decision.costMicroUsd,
            tokens: decision.tokens,
            maxOutputTokens: decision.maxOutputTokens,
            clamped: decision.clamped,
            catalogVersion: request.catalogVersion,
            overriddenPolicyIds: decision.overriddenPolicyIds,
          }
        : { status: 'refused', reservationId: request.reservationId, refusal: decision.refusal };

      await insertReservation(trx, request, now, outcome);
      await checkpoint('reserve:reservation-inserted');
      if (!decision.admitted) return outcome;

      await insertHolds(trx, request.reservationId, decision.holds);
      const crossings: Crossing[] = [];
      for (const hold of decision.holds) {
        await trx
          .updateTable('policy_windows')
          .set((eb) => ({ reserved: eb('reserved', '+', hold.amount) }))
          .where('policy_id', '=', hold.policyId)
          .where('period_key', '=', hold.periodKey)
          .execute();
        const { policy } = keys.find((k) => k.policy.policyId === hold.policyId) as (typeof keys)[number];
        const { spent, reserved } = usage.get(windowId(hold.policyId, hold.periodKey)) as Usage;
        crossings.push({ policy, periodKey: hold.periodKey, before: spent + reserved, after: spent + reserved + hold.amount });
        await checkpoint(`reserve:hold-booked:${hold.policyId}`);
      }
      if (request.approvalOverride && decision.overriddenPolicyIds.length > 0) {
        await trx
          .insertInto('approval_overrides')
          .values({
            reservation_id: request.reservationId,
            approval_id: request.approvalOverride.approvalId,
            approved_by: request.approvalOverride.approvedBy,
            note: request.approvalOverride.note ?? null,
            policy_ids: JSON.stringify(decision.overriddenPolicyIds),
            created_at: now.toISOString(),
          })
          .execute();
      }
      await recordCrossings(trx, crossings, now);
      await checkpoint('reserve:alerts-recorded');
      return outcome;
    });
  }

  /**
   * Books the actual usage, priced with the reservation's own prices (and catalog version).
   *
   * The reservation is claimed first with a compare-and-set (`pending → settled`), so of two
   * resolutions racing for it (a late settle and the sweeper, a retried activity beside its first
   * attempt, two sweepers) exactly one touches the windows; the other returns the winner's outcome.
   * A settle that finds its hold already expired still books what was consumed: as spend, with an
   * overage entry `settled_after_expiry` (its hold went back when it expired, so nothing is released).
   */
  async function settle(request: SettleRequest): Promise<ResolutionOutcome> {
    return writeTransaction(async (trx) => {
      const now = clock();
      const claim = (from: 'pending' | 'expired') =>
        trx
          .updateTable('reservations')
          .set({ state: 'settled', resolved_at: now.toISOString() })
          .where('reservation_id', '=', request.reservationId)
          .where('state', '=', from)
          .returningAll()
          .executeTakeFirst();
      let reservation = await claim('pending');
      const afterExpiry = reservation === undefined;
      const consumed = request.actual.inputTokens + request.actual.outputTokens > 0;
      if (afterExpiry && consumed) reservation = await claim('expired');
      if (!reservation) return resolvedBefore(trx, request.reservationId, 'settle');
      await checkpoint('settle:reservation-claimed');

      const cost = costMicroUsd(
        {
          inputMicroUsdPerMTok: reservation.input_micro_usd_per_mtok,
          outputMicroUsdPerMTok: reservation.output_micro_usd_per_mtok,
        },
        request.actual,
      );
      const tokens = request.actual.inputTokens + request.actual.outputTokens;
      const actualFor = (metric: string) => (metric === 'cost' ? cost : tokens);
      const holds = await holdsOf(trx, request.reservationId);
      const policies = await policiesOf(trx, holds);

      if (holds.length > 0) {
        await trx
          .insertInto('usage_records')
          .values(
            holds.map((hold) => ({
              reservation_id: hold.reservation_id,
              policy_id: hold.policy_id,
              period_key: hold.period_key,
              run_id: reservation.run_id,
              metric: hold.metric,
              amount: actualFor(hold.metric),
              created_at: now.toISOString(),
            })),
          )
          .execute();
        await checkpoint('settle:usage-recorded');
      }
      // What this settle books beyond the hold still live for it: all of it after expiry.
      const excess = afterExpiry
        ? { cost, tokens }
        : { cost: Math.max(0, cost - reservation.amount_micro_usd), tokens: Math.max(0, tokens - reservation.tokens) };
      const overage = excess.cost > 0 || excess.tokens > 0;
      if (overage) {
        await trx
          .insertInto('overages')
          .values({
            reservation_id: request.reservationId,
            reserved_micro_usd: reservation.amount_micro_usd,
            settled_micro_usd: cost,
            reserved_tokens: reservation.tokens,
            settled_tokens: tokens,
            excess_micro_usd: excess.cost,
            excess_tokens: excess.tokens,
            reason: afterExpiry
              ? settledAfterExpiry
              : (request.overageReason ?? 'the provider reported more usage than was reserved'),
            created_at: now.toISOString(),
          })
          .execute();
        await checkpoint('settle:overage-recorded');
      }
      const outcome: ResolutionOutcome = {
        status: 'settled',
        reservationId: request.reservationId,
        costMicroUsd: cost,
        tokens,
        overage,
        ...(afterExpiry ? { afterExpiry: true } : {}),
      };
      await trx
        .updateTable('reservations')
        .set({ settled_micro_usd: cost, settled_tokens: tokens, resolution: JSON.stringify(outcome) })
        .where('reservation_id', '=', request.reservationId)
        .execute();
      await checkpoint('settle:reservation-resolved');

      const crossings: Crossing[] = [];
      for (const hold of holds) {
        const actual = actualFor(hold.metric);
        const released = afterExpiry ? 0 : hold.amount;
        const booked = await trx
          .updateTable('policy_windows')
          .set((eb) => ({ reserved: eb('reserved', '-', released), spent: eb('spent', '+', actual) }))
          .where('policy_id', '=', hold.policy_id)
          .where('period_key', '=', hold.period_key)
          .returning(['spent', 'reserved'])
          .executeTakeFirstOrThrow();
        const policy = policyOfHold(policies, hold);
        const after = booked.spent + booked.reserved;
        if (policy) crossings.push({ policy, periodKey: hold.period_key, before: after - actual + released, after });
        await checkpoint(`settle:window-booked:${hold.policy_id}`);
      }
      await recordCrossings(trx, crossings, now);
      return outcome;
    });
  }

  async function release(reservationId: string): Promise<ResolutionOutcome> {
    return writeTransaction(async (trx) => {
      const outcome = await resolveUnused(trx, reservationId, 'released', clock());
      return outcome ?? resolvedBefore(trx, reservationId, 'release');
    });
  }

  /**
   * The sweeper: expires every pending reservation past its expiry, one transaction each. A
   * reservation that fails to expire is reported to `onFailure` and skipped, so one bad row never
   * stalls the expiry of the others. Safe beside other sweepers: each expiry is a compare-and-set.
   */
  async function expireDue(
    now: Date = clock(),
    onFailure: (reservationId: string, error: Error) => void = () => undefined,
  ): Promise<string[]> {
    const due = await db
      .selectFrom('reservations')
      .select('reservation_id')
      .where('state', '=', 'pending')
      .where('expires_at', '<=', now.toISOString())
      .orderBy('expires_at')
      .limit(1000)
      .execute();
    const expired: string[] = [];
    for (const { reservation_id } of due) {
      try {
        const outcome = await writeTransaction((trx) => resolveUnused(trx, reservation_id, 'expired', now));
        if (outcome) expired.push(reservation_id);
      } catch (error) {
        onFailure(reservation_id, error as Error);
      }
    }
    return expired;
  }

  /**
   * Gives a pending hold back (release, expire). Claims the reservation first with a
   * compare-and-set; returns undefined when it was not pending (or, for an expiry, no longer due
   * because its run renewed it), in which case nothing was touched.
   */
  async function resolveUnused(
    trx: Db,
    reservationId: string,
    state: 'released' | 'expired',
    at: Date,
  ): Promise<ResolutionOutcome | undefined> {
    const outcome: ResolutionOutcome = { status: state, reservationId };
    let claim = trx
      .updateTable('reservations')
      .set({ state, resolved_at: at.toISOString(), resolution: JSON.stringify(outcome) })
      .where('reservation_id', '=', reservationId)
      .where('state', '=', 'pending');
    if (state === 'expired') claim = claim.where('expires_at', '<=', at.toISOString());
    const claimed = await claim.returning('reservation_id').executeTakeFirst();
    if (!claimed) return undefined;
    await checkpoint(`${state}:reservation-claimed`);
    for (const hold of await holdsOf(trx, reservationId)) {
      await trx
        .updateTable('policy_windows')
        .set((eb) => ({ reserved: eb('reserved', '-', hold.amount) }))
        .where('policy_id', '=', hold.policy_id)
        .where('period_key', '=', hold.period_key)
        .execute();
      await checkpoint(`${state}:window-released:${hold.policy_id}`);
    }
    return outcome;
  }

  /** The outcome of a reservation that another call resolved first (a repeat gets the first outcome). */
  async function resolvedBefore(trx: Db, reservationId: string, action: string): Promise<ResolutionOutcome> {
    const reservation = await loadReservation(trx, reservationId);
    if (reservation.resolution) return JSON.parse(reservation.resolution) as ResolutionOutcome;
    throw new LedgerConflictError(`cannot ${action} reservation ${reservationId}: it is ${reservation.state}`);
  }

  /**
   * Keeps a live run's hold alive and large enough: moves its expiry to at least `expiresAt` (a
   * lease the provider call renews while it streams) and, with `cover`, tops the hold up so it
   * covers that much usage (the attempts already billed plus the next one). The top-up is checked
   * against every hard limit in the same atomic way as a reservation; when it does not fit, nothing
   * changes and the refusal says which policy. Raising to a total makes a repeated call a no-op.
   */
  async function renewHold(request: RenewHoldRequest): Promise<RenewHoldOutcome> {
    try {
      return await writeTransaction(async (trx) => {
        const now = clock();
        const expiresAt = request.expiresAt.toISOString();
        const reservation = await trx
          .updateTable('reservations')
          .set((eb) => ({
            expires_at: eb.case().when('expires_at', '<', expiresAt).then(expiresAt).else(eb.ref('expires_at')).end(),
          }))
          .where('reservation_id', '=', request.reservationId)
          .where('state', '=', 'pending')
          .returningAll()
          .executeTakeFirst();
        if (!reservation) {
          const stored = await loadReservation(trx, request.reservationId);
          return { status: 'not_pending', reservationId: request.reservationId, state: stored.state };
        }
        await checkpoint('renew:reservation-claimed');
        const held = (amountMicroUsd: number, tokens: number, toppedUp: boolean): RenewHoldOutcome => ({
          status: 'held',
          reservationId: request.reservationId,
          amountMicroUsd,
          tokens,
          toppedUp,
          expiresAt: reservation.expires_at,
        });
        if (!request.cover) return held(reservation.amount_micro_usd, reservation.tokens, false);
        const needed = {
          cost: costMicroUsd(
            {
              inputMicroUsdPerMTok: reservation.input_micro_usd_per_mtok,
              outputMicroUsdPerMTok: reservation.output_micro_usd_per_mtok,
            },
            request.cover,
          ),
          tokens: request.cover.inputTokens + request.cover.outputTokens,
        };
        const more = {
          cost: Math.max(0, needed.cost - reservation.amount_micro_usd),
          tokens: Math.max(0, needed.tokens - reservation.tokens),
        };
        if (more.cost === 0 && more.tokens === 0) return held(reservation.amount_micro_usd, reservation.tokens, false);

        const holds = await holdsOf(trx, request.reservationId);
        const policies = await policiesOf(trx, holds);
        const overridden = await overriddenPolicies(trx, request.reservationId);
        const crossings: Crossing[] = [];
        for (const hold of holds) {
          const amount = more[hold.metric as BudgetPolicy['metric']];
          if (amount === 0) continue;
          const policy = policyOfHold(policies, hold);
          let booking = trx
            .updateTable('policy_windows')
            .set((eb) => ({ reserved: eb('reserved', '+', amount) }))
            .where('policy_id', '=', hold.policy_id)
            .where('period_key', '=', hold.period_key);
          // An approval admitted this run past its approval_required policies; its retries too.
          const binding = policy?.enabled && !overridden.has(hold.policy_id) ? policy : undefined;
          if (binding) {
            booking = booking.where((eb) => eb(eb(eb.ref('spent'), '+', eb.ref('reserved')), '<=', binding.hardLimit - amount));
          }
          const booked = await booking.returning(['spent', 'reserved']).executeTakeFirst();
          if (!booked) {
            const usage = await trx
              .selectFrom('policy_windows')
              .select(['spent', 'reserved'])
              .where('policy_id', '=', hold.policy_id)
              .where('period_key', '=', hold.period_key)
              .executeTakeFirstOrThrow();
            throw new TopUpRefused(topUpRefusal(binding as StoredPolicy, hold.period_key, usage, amount));
          }
          await trx
            .updateTable('reservation_holds')
            .set((eb) => ({ amount: eb('amount', '+', amount) }))
            .where('reservation_id', '=', request.reservationId)
            .where('policy_id', '=', hold.policy_id)
            .execute();
          if (policy) {
            const after = booked.spent + booked.reserved;
            crossings.push({ policy, periodKey: hold.period_key, before: after - amount, after });
          }
          await checkpoint(`renew:hold-topped-up:${hold.policy_id}`);
        }
        const amountMicroUsd = reservation.amount_micro_usd + more.cost;
        const tokens = reservation.tokens + more.tokens;
        await trx
          .updateTable('reservations')
          .set({ amount_micro_usd: amountMicroUsd, tokens })
          .where('reservation_id', '=', request.reservationId)
          .execute();
        await recordCrossings(trx, crossings, now);
        return held(amountMicroUsd, tokens, true);
      });
    } catch (error) {
      if (error instanceof TopUpRefused)
        return { status: 'refused', reservationId: request.reservationId, refusal: error.refusal };
      throw error;
    }
  }

  /** A reservation's holds in the global window order, so every path locks windows the same way. */
  async function holdsOf(trx: Db, reservationId: string) {
    const holds = await trx.selectFrom('reservation_holds').selectAll().where('reservation_id', '=', reservationId).execute();
    return holds.sort((a, b) => compareWindows(a.policy_id, a.period_key, b.policy_id, b.period_key));
  }

  async function policiesOf(trx: Db, holds: { policy_id: string }[]): Promise<Map<string, StoredPolicy>> {
    if (holds.length === 0) return new Map();
    const rows = await trx
      .selectFrom('budget_policies')
      .selectAll()
      .where(
        'policy_id',
        'in',
        holds.map((h) => h.policy_id),
      )
      .execute();
    return new Map(rows.map((row) => [row.policy_id, toPolicy(row)]));
  }

  /**
   * The policy a hold's window belongs to, or undefined when the policy was deleted or has since
   * changed unit or scope (a newer generation): such a window takes no new limit and no alerts.
   */
  function policyOfHold(policies: Map<string, StoredPolicy>, hold: { policy_id: string; period_key: string }) {
    const policy = policies.get(hold.policy_id);
    return policy && policy.generation === generationOfKey(hold.period_key) ? policy : undefined;
  }

  async function overriddenPolicies(trx: Db, reservationId: string): Promise<Set<string>> {
    const row = await trx
      .selectFrom('approval_overrides')
      .select('policy_ids')
      .where('reservation_id', '=', reservationId)
      .executeTakeFirst();
    return new Set(row ? (JSON.parse(row.policy_ids) as string[]) : []);
  }

  async function getReservation(reservationId: string) {
    const row = await db.selectFrom('reservations').selectAll().where('reservation_id', '=', reservationId).executeTakeFirst();
    return row ? toReservationView(row) : undefined;
  }

  // ---- usage ------------------------------------------------------------------------------------

  /** Every policy's current window (at `now`): spent, reserved, limit, utilization, status, alerts. */
  /**
   * How every enabled policy that applies to the request would judge it now (routing reads the
   * most severe status: a `downgrade` policy moves the run to a cheaper model before admission).
   */
  async function evaluateRequest(request: BudgetRequest, now: Date = clock()): Promise<PolicyEvaluation[]> {
    const keys = (await listPolicies())
      .filter((policy) => policyApplies(policy, request.scope))
      .map((policy) => ({ policy, periodKey: policyWindowKey(policy, now) }));
    if (keys.length === 0) return [];
    const lookup = await readWindows(keys);
    return evaluateBudgets(
      keys.map((k) => k.policy),
      lookup,
      request,
      now,
    );
  }

  /** Current spent and reserved of these windows, unlocked (reports and routing, not admission). */
  async function readWindows(
    keys: { policy: BudgetPolicy; periodKey: string }[],
  ): Promise<(policyId: string, key: string) => Usage> {
    const rows =
      keys.length === 0
        ? []
        : await db
            .selectFrom('policy_windows')
            .selectAll()
            .where((eb) =>
              eb.or(keys.map((k) => eb.and([eb('policy_id', '=', k.policy.policyId), eb('period_key', '=', k.periodKey)]))),
            )
            .execute();
    const windows = new Map(rows.map((r) => [windowId(r.policy_id, r.period_key), { spent: r.spent, reserved: r.reserved }]));
    return (policyId, key) => windows.get(windowId(policyId, key)) ?? { spent: 0, reserved: 0 };
  }

  /** Records what a failed provider attempt streamed (once per run and attempt). */
  async function recordFailedAttempt(attempt: FailedAttempt): Promise<void> {
    await db
      .insertInto('provider_attempts')
      .values({
        run_id: attempt.runId,
        attempt: attempt.attempt,
        input_tokens: attempt.inputTokens,
        output_tokens: attempt.outputTokens,
        failure: attempt.failure,
        created_at: clock().toISOString(),
      })
      .onConflict((oc) => oc.columns(['run_id', 'attempt']).doNothing())
      .execute();
  }

  async function failedAttempts(runId: string): Promise<FailedAttempt[]> {
    const rows = await db.selectFrom('provider_attempts').selectAll().where('run_id', '=', runId).orderBy('attempt').execute();
    return rows.map((r) => ({
      runId: r.run_id,
      attempt: r.attempt,
      inputTokens: r.input_tokens,
      outputTokens: r.output_tokens,
      failure: r.failure,
    }));
  }

  /** Stores a routing decision once (a repeated call with the same id keeps the first). */
  async function recordRoutingDecision(record: RoutingDecisionRecord): Promise<void> {
    const { decision } = record;
    await db
      .insertInto('routing_decisions')
      .values({
        decision_id: record.decisionId,
        run_id: record.runId,
        tenant_id: record.tenantId,
        principal_id: record.principalId,
        task_class: decision.taskClass,
        mode: decision.mode,
        requested_model: decision.requestedModel,
        selected_model: decision.selectedModel,
        action: decision.action,
        reason_codes: JSON.stringify(decision.reasonCodes),
        decision: JSON.stringify(decision),
        created_at: clock().toISOString(),
      })
      .onConflict((oc) => oc.column('decision_id').doNothing())
      .execute();
  }

  async function getRoutingDecision(decisionId: string): Promise<RoutingDecision | undefined> {
    const row = await db
      .selectFrom('routing_decisions')
      .select('decision')
      .where('decision_id', '=', decisionId)
      .executeTakeFirst();
    return row ? (JSON.parse(row.decision) as RoutingDecision) : undefined;
  }

  async function usageReport(now: Date = clock()): Promise<WindowReport[]> {
    const policies = await listPolicies();
    const keys = policies.map((p) => ({ policy: p, periodKey: policyWindowKey(p, now) }));
    const alerts = new Map<string, WindowReport['alerts']>();
    const lookup = await readWindows(keys);
    if (keys.length > 0) {
      const alertRows = await db
        .selectFrom('budget_alerts')
        .selectAll()
        .where((eb) =>
          eb.or(keys.map((k) => eb.and([eb('policy_id', '=', k.policy.policyId), eb('period_key', '=', k.periodKey)]))),
        )
        .orderBy('created_at')
        .execute();
      for (const a of alertRows) {
        const id = windowId(a.policy_id, a.period_key);
        alerts.set(id, [
          ...(alerts.get(id) ?? []),
          { threshold: a.threshold, committed: a.committed, limit: a.limit_value, createdAt: a.created_at },
        ]);
      }
    }
    return keys.map(({ policy, periodKey: key }) => {
      const { spent, reserved } = lookup(policy.policyId, key);
      const [evaluation] = evaluateBudgets([{ ...policy, enabled: true }], lookup, null, now);
      return {
        policyId: policy.policyId,
        scope: policy.scope,
        metric: policy.metric,
        window: policy.window,
        periodKey: key,
        spent,
        reserved,
        limit: policy.hardLimit,
        ...(policy.softLimit !== undefined ? { softLimit: policy.softLimit } : {}),
        utilization: policy.hardLimit > 0 ? (spent + reserved) / policy.hardLimit : spent + reserved > 0 ? 1 : 0,
        status: evaluation?.status ?? 'ok',
        enabled: policy.enabled,
        alerts: alerts.get(windowId(policy.policyId, key)) ?? [],
      };
    });
  }

  async function ping(): Promise<void> {
    await sql`select 1`.execute(db);
  }

  // ---- helpers ----------------------------------------------------------------------------------

  /** The first outcome of a reservation id already used (a repeated reserve returns it). */
  async function storedOutcome(trx: Db, reservationId: string): Promise<ReserveOutcome | undefined> {
    const row = await trx
      .selectFrom('reservations')
      .select('outcome')
      .where('reservation_id', '=', reservationId)
      .executeTakeFirst();
    return row ? (JSON.parse(row.outcome) as ReserveOutcome) : undefined;
  }

  /** The enabled policies that apply to the scope, each with its current generation's window at `now` (created if new). */
  async function windowsFor(trx: Db, scope: RunScope, now: Date): Promise<{ policy: StoredPolicy; periodKey: string }[]> {
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
  async function ensureWindows(trx: Db, keys: { policy: BudgetPolicy; periodKey: string }[]): Promise<void> {
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

  /** The reservation's holds, one per policy window, in one statement. */
  async function insertHolds(trx: Db, reservationId: string, holds: Hold[]): Promise<void> {
    if (holds.length === 0) return;
    await trx
      .insertInto('reservation_holds')
      .values(
        holds.map((h) => ({
          reservation_id: reservationId,
          policy_id: h.policyId,
          period_key: h.periodKey,
          metric: h.metric,
          amount: h.amount,
        })),
      )
      .execute();
    await checkpoint('reserve:holds-inserted');
  }

  async function insertReservation(trx: Db, request: ReserveRequest, now: Date, outcome: ReserveOutcome): Promise<void> {
    const admitted = outcome.status === 'admitted' ? outcome : null;
    await trx
      .insertInto('reservations')
      .values({
        reservation_id: request.reservationId,
        run_id: request.runId,
        state: admitted ? 'pending' : 'refused',
        tenant_id: request.scope.tenantId,
        principal_id: request.scope.principalId,
        model_id: request.scope.modelId,
        input_tokens: request.inputTokens,
        max_output_tokens: admitted ? admitted.maxOutputTokens : request.maxOutputTokens,
        amount_micro_usd: admitted ? admitted.amountMicroUsd : 0,
        tokens: admitted ? admitted.tokens : 0,
        input_micro_usd_per_mtok: request.price.inputMicroUsdPerMTok,
        output_micro_usd_per_mtok: request.price.outputMicroUsdPerMTok,
        catalog_version: request.catalogVersion,
        expires_at: request.expiresAt.toISOString(),
        created_at: now.toISOString(),
        resolved_at: admitted ? null : now.toISOString(),
        settled_micro_usd: null,
        settled_tokens: null,
        outcome: JSON.stringify(outcome),
        resolution: null,
      })
      .execute();
  }

  /** Reads the windows, locked on PostgreSQL in a stable order (no two transactions wait in a cycle). */
  async function lockWindows(trx: Db, keys: { policy: BudgetPolicy; periodKey: string }[]): Promise<Map<string, Usage>> {
    const usage = new Map<string, Usage>();
    if (keys.length === 0) return usage;
    let query = trx
      .selectFrom('policy_windows')
      .selectAll()
      .where((eb) =>
        eb.or(keys.map((k) => eb.and([eb('policy_id', '=', k.policy.policyId), eb('period_key', '=', k.periodKey)]))),
      )
      .orderBy(dialect === 'postgres' ? sql`policy_id collate "C"` : sql`policy_id`)
      .orderBy(dialect === 'postgres' ? sql`period_key collate "C"` : sql`period_key`);
    if (dialect === 'postgres') query = query.forUpdate();
    for (const row of await query.execute())
      usage.set(windowId(row.policy_id, row.period_key), { spent: row.spent, reserved: row.reserved });
    return usage;
  }

  /** Alerts for thresholds a window crossed in this transaction (before < threshold ≤ after); the primary key keeps one per threshold per window. */
  async function recordCrossings(trx: Db, crossings: Crossing[], now: Date): Promise<void> {
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

  return {
    connection,
    listPolicies,
    getPolicy,
    putPolicy,
    deletePolicy,
    syncConfigPolicies,
    listPriceOverrides,
    putPriceOverride,
    reserve,
    settle,
    release,
    expireDue,
    renewHold,
    getReservation,
    usageReport,
    evaluateRequest,
    recordRoutingDecision,
    getRoutingDecision,
    recordFailedAttempt,
    failedAttempts,
    ping,
  };
}

interface Usage {
  spent: number;
  reserved: number;
}

/** A provider attempt that failed after streaming, with what it streamed (our own count). */
export interface FailedAttempt {
  runId: string;
  attempt: number;
  inputTokens: number;
  outputTokens: number;
  failure: string;
}

export interface RoutingDecisionRecord {
  /** The run id for a run's decision; a fresh id for a plan asked for through the API. */
  decisionId: string;
  runId: string | null;
  tenantId: string;
  principalId: string;
  decision: RoutingDecision;
}

interface Crossing {
  policy: BudgetPolicy;
  periodKey: string;
  before: number;
  after: number;
}

/** PostgreSQL: deadlock detected, serialization failure, lock not available (lock_timeout). */
const contentionCodes = new Set(['40P01', '40001', '55P03']);
const maxTransactionAttempts = 6;

function isContention(error: unknown): boolean {
  return contentionCodes.has((error as { code?: string } | null)?.code ?? '');
}

/** A top-up that does not fit a hard limit: rolls its transaction back and carries the refusal out. */
class TopUpRefused extends Error {
  constructor(readonly refusal: BudgetRefusal) {
    super(refusal.message);
  }
}

function topUpRefusal(policy: StoredPolicy, key: string, usage: Usage, requested: number): BudgetRefusal {
  const unit = policy.metric === 'cost' ? 'µUSD' : 'tokens';
  return {
    policyId: policy.policyId,
    window: policy.window,
    periodKey: key,
    metric: policy.metric,
    action: policy.action,
    spent: usage.spent,
    reserved: usage.reserved,
    limit: policy.hardLimit,
    requested,
    message:
      `budget policy '${policy.policyId}' (${policy.window} ${key}) refuses another provider attempt: spent ` +
      `${usage.spent} + reserved ${usage.reserved} + ${requested} ${unit} more for the retry exceeds the hard limit of ` +
      `${policy.hardLimit} ${unit}`,
  };
}

function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** Rolls back the in-full attempt when one window has no room for the whole request. */
class DoesNotFitInFull extends Error {}

/**
 * The one global order in which every path locks window rows: by policy id, then period key,
 * compared as UTF-8 bytes. That is SQLite's BINARY collation and PostgreSQL's "C" collation
 * (lockWindows asks for it), whatever the database's default collation, so no two transactions
 * can wait for each other's windows in a cycle.
 */
function compareWindows(policyA: string, keyA: string, policyB: string, keyB: string): number {
  return Buffer.compare(Buffer.from(policyA), Buffer.from(policyB)) || Buffer.compare(Buffer.from(keyA), Buffer.from(keyB));
}

const byWindow = (a: { policy: BudgetPolicy; periodKey: string }, b: { policy: BudgetPolicy; periodKey: string }) =>
  compareWindows(a.policy.policyId, a.periodKey, b.policy.policyId, b.periodKey);

function windowId(policyId: string, key: string): string {
  return `${policyId}\u0000${key}`;
}

async function loadReservation(trx: Db, reservationId: string): Promise<ReservationRow> {
  const row = await trx.selectFrom('reservations').selectAll().where('reservation_id', '=', reservationId).executeTakeFirst();
  if (!row) throw new LedgerNotFoundError(`reservation ${reservationId} does not exist`);
  return row;
}

function toPolicy(row: PolicyRow): StoredPolicy {
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

export interface ReservationView {
  reservationId: string;
  runId: string;
  state: 'pending' | 'settled' | 'released' | 'expired' | 'refused';
  amountMicroUsd: number;
  tokens: number;
  maxOutputTokens: number;
  catalogVersion: string;
  expiresAt: string;
  createdAt: string;
  resolvedAt: string | null;
  settledMicroUsd: number | null;
  settledTokens: number | null;
}

function toReservationView(row: ReservationRow): ReservationView {
  return {
    reservationId: row.reservation_id,
    runId: row.run_id,
    state: row.state as ReservationView['state'],
    amountMicroUsd: row.amount_micro_usd,
    tokens: row.tokens,
    maxOutputTokens: row.max_output_tokens,
    catalogVersion: row.catalog_version,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    resolvedAt: row.resolved_at,
    settledMicroUsd: row.settled_micro_usd,
    settledTokens: row.settled_tokens,
  };
}
