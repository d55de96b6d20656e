import type { Selectable } from 'kysely';
import {
  budgetRefusal,
  decideAdmission,
  type AdmissionDecision,
  type BudgetPolicy,
  type BudgetRefusal,
  type Hold,
  type RunScope,
} from '../../domain/budget';
import { costMicroUsd, type ModelPrice } from '../../domain/pricing';
import type { LedgerDatabase } from '../schema';
import type { Db, LedgerContext } from './context';
import { LedgerConflictError, LedgerNotFoundError } from './errors';
import { toPolicy, type StoredPolicy } from './policies';
import { admissionOutcome, policyOfHold, pricesOf, reservationRow, settledWithinHold } from './reservation-rows';
import { createSingleStatementWrites, type SettleRead } from './single-statement';
import { createSqliteTransactions } from './sqlite-transactions';
import { isUniqueViolation } from './transaction';
import { byWindow, compareWindows, recordCrossings, windowId, type Crossing, type Usage, type Windows } from './windows';

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

type ReservationRow = Selectable<LedgerDatabase['reservations']>;

/** How often the single-statement reserve reads changed policies again before taking the locked path. */
const maxStaleAttempts = 3;
/** Far more than the holds one process has open at once (admissions in flight, runs streaming). */
const maxPricesKept = 10_000;

export function createReservations(
  { db, dialect, sqlite, clock, checkpoint, writeTransaction }: LedgerContext,
  {
    windowsFor,
    windowsOfKeptPolicies,
    forgetKeptPolicies,
    lockWindows,
  }: Pick<Windows, 'windowsFor' | 'windowsOfKeptPolicies' | 'forgetKeptPolicies' | 'lockWindows'>,
) {
  const singleStatement = createSingleStatementWrites({ db });
  const sqliteTransactions = sqlite && createSqliteTransactions({ db, clock, checkpoint }, sqlite);

  /**
   * The prices of the holds this process made on PostgreSQL (a reservation's prices never change),
   * so that their settle is one statement with no read before it; an entry goes with its settle, or
   * as the oldest past the bound (a hold released, expired or settled elsewhere stays until then,
   * harmlessly: the settle statement checks the hold itself). In `palyra dev` the run's admission
   * and its settle share this process; a settle that finds nothing here reads the reservation.
   */
  const pricesOfHoldsMadeHere = new Map<string, ModelPrice>();
  function rememberPrices(request: ReserveRequest): void {
    if (pricesOfHoldsMadeHere.size >= maxPricesKept) {
      pricesOfHoldsMadeHere.delete(pricesOfHoldsMadeHere.keys().next().value as string);
    }
    pricesOfHoldsMadeHere.set(request.reservationId, request.price);
  }

  /**
   * Checks every applicable policy window and books the hold in one transaction. A repeated call
   * with the same reservation id returns the first outcome and books nothing.
   */
  async function reserve(request: ReserveRequest): Promise<ReserveOutcome> {
    try {
      // SQLite decides synchronously inside a commit it may share with other writes (BEGIN
      // IMMEDIATE already serialises writers, so it needs no separate attempt in full);
      // PostgreSQL tries one statement first.
      if (!request.approvalOverride && sqliteTransactions) return await sqliteTransactions.reserve(request);
      if (!request.approvalOverride && dialect === 'postgres') {
        const outcome = await reserveInOneStatement(request);
        if (outcome) return outcome;
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
   * The common case on PostgreSQL, one statement: the reservation, its holds and a conditional
   * booking of every window (`spent + reserved ≤ hardLimit − amount`), all or nothing, decided by
   * the policies this process kept (the statement refuses to book by policies that changed before
   * it ran: they are read again, and it is called again). When some window has no room, the usage that
   * statement saw decides: a refusal is stored as it stands (it changes no window, so it needs no
   * window lock), while a clamp, or room that came or went meanwhile, is left to the locked
   * admission path (undefined).
   */
  async function reserveInOneStatement(request: ReserveRequest): Promise<ReserveOutcome | undefined> {
    for (let attempt = 1; attempt <= maxStaleAttempts; attempt++) {
      const outcome = await reserveByKeptPolicies(request);
      if (outcome !== 'stale') return outcome;
      forgetKeptPolicies();
    }
    // Policies changing faster than a reserve can read them: the locked path reads them in its transaction.
    return undefined;
  }

  async function reserveByKeptPolicies(request: ReserveRequest): Promise<ReserveOutcome | undefined | 'stale'> {
    const now = clock();
    const { keys, policiesVersion } = await windowsOfKeptPolicies(request.scope, now);
    const amounts = {
      cost: costMicroUsd(request.price, { inputTokens: request.inputTokens, outputTokens: request.maxOutputTokens }),
      tokens: request.inputTokens + request.maxOutputTokens,
    };
    const admitted: ReserveOutcome = {
      status: 'admitted',
      reservationId: request.reservationId,
      amountMicroUsd: amounts.cost,
      tokens: amounts.tokens,
      maxOutputTokens: request.maxOutputTokens,
      clamped: false,
      catalogVersion: request.catalogVersion,
      overriddenPolicyIds: [],
    };
    const windows = [...keys].sort(byWindow).map((key) => ({ ...key, amount: amounts[key.policy.metric] }));
    await checkpoint('reserve:single-statement');
    const result = await singleStatement.reserveInFull({
      reservation: reservationRow(request, now, admitted),
      windows,
      now,
      policiesVersion,
    });
    if (result.status === 'stale') return 'stale';
    if (result.status === 'admitted') {
      rememberPrices(request);
      return admitted;
    }
    if (result.status === 'exists') return JSON.parse(result.outcome) as ReserveOutcome;
    if (result.status === 'raced') return undefined;

    const decision = decideAdmission(
      windows.map((w, i) => ({ policy: w.policy, periodKey: w.periodKey, usage: result.usage[i] as Usage })),
      {
        inputTokens: request.inputTokens,
        maxOutputTokens: request.maxOutputTokens,
        price: request.price,
        minOutputTokens: request.minOutputTokens ?? 1,
        approvalOverride: false,
      },
    );
    if (decision.admitted) return undefined;
    const refused: ReserveOutcome = { status: 'refused', reservationId: request.reservationId, refusal: decision.refusal };
    await checkpoint('reserve:refusal-decided');
    await insertReservation(db, request, now, refused);
    return refused;
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
      const outcome = admissionOutcome(request, decision);

      await insertReservation(trx, request, now, outcome);
      await checkpoint('reserve:reservation-inserted');
      if (!decision.admitted) return outcome;

      await insertHolds(trx, request.reservationId, decision.holds);
      const crossings: Crossing[] = [];
      for (const hold of decision.holds) {
        await updateWindow(trx, hold.policyId, hold.periodKey)
          .set((eb) => ({ reserved: eb('reserved', '+', hold.amount) }))
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
    const settled = sqliteTransactions
      ? await sqliteTransactions.settleWithinHold(request)
      : dialect === 'postgres'
        ? await settleInOneStatement(request)
        : undefined;
    return settled ?? settleUnderLock(request);
  }

  /**
   * The common settle on PostgreSQL: a read, then one statement that claims the reservation (the
   * same compare-and-set) and books usage, windows and alerts. Only for a pending, unexpired hold
   * that covers the usage; an overage, a settle after expiry (or one racing the sweeper for a due
   * hold) and a repeat take the locked path, which the statement leaves untouched when it does
   * not match.
   */
  async function settleInOneStatement(request: SettleRequest): Promise<ResolutionOutcome | undefined> {
    const now = clock();
    // A hold made here needs no read: the statement itself checks what the read is for (pending,
    // unexpired, within its hold), and its prices are known.
    const heldHere = pricesOfHoldsMadeHere.get(request.reservationId);
    pricesOfHoldsMadeHere.delete(request.reservationId);
    const reservation = heldHere ? undefined : await singleStatement.readForSettle(request.reservationId);
    if (!heldHere && (!reservation || reservation.state !== 'pending' || reservation.expires_at <= now.toISOString())) {
      return undefined;
    }
    const { outcome, cost, tokens } = settledWithinHold(request, heldHere ?? pricesOf(reservation as SettleRead));
    if (reservation && (cost > reservation.amount_micro_usd || tokens > reservation.tokens)) return undefined;
    await checkpoint('settle:single-statement');
    const settled = await singleStatement.settleWithinHold({
      reservationId: request.reservationId,
      cost,
      tokens,
      resolution: JSON.stringify(outcome),
      now,
    });
    return settled ? outcome : undefined;
  }

  async function settleUnderLock(request: SettleRequest): Promise<ResolutionOutcome> {
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

      const cost = costMicroUsd(pricesOf(reservation), request.actual);
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
        const booked = await updateWindow(trx, hold.policy_id, hold.period_key)
          .set((eb) => ({ reserved: eb('reserved', '-', released), spent: eb('spent', '+', actual) }))
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
      await updateWindow(trx, hold.policy_id, hold.period_key)
        .set((eb) => ({ reserved: eb('reserved', '-', hold.amount) }))
        .execute();
      await checkpoint(`${state}:window-released:${hold.policy_id}`);
    }
    return outcome;
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
          cost: costMicroUsd(pricesOf(reservation), request.cover),
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
          let booking = updateWindow(trx, hold.policy_id, hold.period_key).set((eb) => ({
            reserved: eb('reserved', '+', amount),
          }));
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
            throw new TopUpRefused(
              budgetRefusal({ policy: binding as StoredPolicy, periodKey: hold.period_key, usage }, amount, 'retry'),
            );
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

  async function getReservation(reservationId: string) {
    const row = await db.selectFrom('reservations').selectAll().where('reservation_id', '=', reservationId).executeTakeFirst();
    return row ? toReservationView(row) : undefined;
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

  return { reserve, settle, release, expireDue, renewHold, getReservation };
}

/** The first outcome of a reservation id already used (a repeated reserve returns it). */
async function storedOutcome(trx: Db, reservationId: string): Promise<ReserveOutcome | undefined> {
  const row = await trx
    .selectFrom('reservations')
    .select('outcome')
    .where('reservation_id', '=', reservationId)
    .executeTakeFirst();
  return row ? (JSON.parse(row.outcome) as ReserveOutcome) : undefined;
}

async function insertReservation(trx: Db, request: ReserveRequest, now: Date, outcome: ReserveOutcome): Promise<void> {
  await trx
    .insertInto('reservations')
    .values(reservationRow(request, now, outcome))
    .execute();
}

/** An UPDATE of one window row; the caller says what it sets (and any condition on the row). */
function updateWindow(trx: Db, policyId: string, periodKey: string) {
  return trx.updateTable('policy_windows').where('policy_id', '=', policyId).where('period_key', '=', periodKey);
}

/** The outcome of a reservation that another call resolved first (a repeat gets the first outcome). */
async function resolvedBefore(trx: Db, reservationId: string, action: string): Promise<ResolutionOutcome> {
  const reservation = await loadReservation(trx, reservationId);
  if (reservation.resolution) return JSON.parse(reservation.resolution) as ResolutionOutcome;
  throw new LedgerConflictError(`cannot ${action} reservation ${reservationId}: it is ${reservation.state}`);
}

async function loadReservation(trx: Db, reservationId: string): Promise<ReservationRow> {
  const row = await trx.selectFrom('reservations').selectAll().where('reservation_id', '=', reservationId).executeTakeFirst();
  if (!row) throw new LedgerNotFoundError(`reservation ${reservationId} does not exist`);
  return row;
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

async function overriddenPolicies(trx: Db, reservationId: string): Promise<Set<string>> {
  const row = await trx
    .selectFrom('approval_overrides')
    .select('policy_ids')
    .where('reservation_id', '=', reservationId)
    .executeTakeFirst();
  return new Set(row ? (JSON.parse(row.policy_ids) as string[]) : []);
}

/** A top-up that does not fit a hard limit: rolls its transaction back and carries the refusal out. */
class TopUpRefused extends Error {
  constructor(readonly refusal: BudgetRefusal) {
    super(refusal.message);
  }
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
