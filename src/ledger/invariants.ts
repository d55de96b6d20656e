import type { Kysely } from 'kysely';
import { generationOfKey } from '../domain/budget';
import type { LedgerDatabase } from './schema';

export interface InvariantOptions {
  now: Date;
  /** I4 allows a pending reservation to outlive its expiry by at most one sweep interval. */
  sweepIntervalMs: number;
}

/**
 * The ledger invariants (docs/architecture.md, Money), checked against what is stored. Returns one line per
 * violation (empty when all hold). Tests run it after every step; doctor can run it on a live DB.
 */
export async function checkLedgerInvariants(db: Kysely<LedgerDatabase>, options: InvariantOptions): Promise<string[]> {
  const [windows, policies, reservations, holds, usage, overages, overrides] = await Promise.all([
    db.selectFrom('policy_windows').selectAll().execute(),
    db.selectFrom('budget_policies').selectAll().execute(),
    db.selectFrom('reservations').selectAll().execute(),
    db.selectFrom('reservation_holds').selectAll().execute(),
    db.selectFrom('usage_records').selectAll().execute(),
    db.selectFrom('overages').selectAll().execute(),
    db.selectFrom('approval_overrides').selectAll().execute(),
  ]);
  const violations: string[] = [];
  const reservationById = new Map(reservations.map((r) => [r.reservation_id, r]));
  const key = (policyId: string, periodKey: string) => `${policyId} ${periodKey}`;
  const overaged = new Set(overages.map((o) => o.reservation_id));

  // I1 allows a window past its limit by exactly what was admitted past it on the record: what each
  // overage booked beyond its live hold, and the holds that an approval override let through.
  const allowance = new Map<string, number>();
  const allow = (id: string, amount: number) => allowance.set(id, (allowance.get(id) ?? 0) + amount);
  const overageBy = new Map(overages.map((o) => [o.reservation_id, o]));
  const overriddenPolicies = new Map(overrides.map((o) => [o.reservation_id, new Set(JSON.parse(o.policy_ids) as string[])]));
  for (const hold of holds) {
    const overage = overageBy.get(hold.reservation_id);
    if (overage)
      allow(key(hold.policy_id, hold.period_key), hold.metric === 'cost' ? overage.excess_micro_usd : overage.excess_tokens);
    if (overriddenPolicies.get(hold.reservation_id)?.has(hold.policy_id))
      allow(key(hold.policy_id, hold.period_key), hold.amount);
  }

  const heldPending = new Map<string, number>();
  for (const hold of holds) {
    if (reservationById.get(hold.reservation_id)?.state === 'pending') {
      heldPending.set(
        key(hold.policy_id, hold.period_key),
        (heldPending.get(key(hold.policy_id, hold.period_key)) ?? 0) + hold.amount,
      );
    }
  }
  const usageByWindow = new Map<string, number>();
  for (const record of usage) {
    usageByWindow.set(
      key(record.policy_id, record.period_key),
      (usageByWindow.get(key(record.policy_id, record.period_key)) ?? 0) + record.amount,
    );
  }

  for (const window of windows) {
    const id = key(window.policy_id, window.period_key);
    // A window is judged against the policy that books into it: its id and its generation. Windows
    // of an older generation (before a metric, window or scope change) hold amounts in the old unit
    // or for the old scope and admit nothing new (only their own pending holds settle, release or
    // expire into them), so like the windows of a deleted policy they have no limit to compare with.
    const policy = policies.find((p) => p.policy_id === window.policy_id && p.generation === generationOfKey(window.period_key));
    // I1: settled + reserved ≤ hard limit, plus what a recorded approval or overage admitted.
    const allowed = (policy?.hard_limit ?? 0) + (allowance.get(id) ?? 0);
    if (policy && window.spent + window.reserved > allowed) {
      violations.push(
        `I1 window ${id}: spent ${window.spent} + reserved ${window.reserved} > hard limit ${policy.hard_limit}` +
          ` + recorded overages and approvals ${allowance.get(id) ?? 0}`,
      );
    }
    // The reserved column is exactly what pending reservations hold.
    if (window.reserved !== (heldPending.get(id) ?? 0)) {
      violations.push(`window ${id}: reserved ${window.reserved} but pending holds sum to ${heldPending.get(id) ?? 0}`);
    }
    // I6: Σ usage records = Σ settled per window.
    if (window.spent !== (usageByWindow.get(id) ?? 0)) {
      violations.push(`I6 window ${id}: spent ${window.spent} but usage records sum to ${usageByWindow.get(id) ?? 0}`);
    }
    if (window.spent < 0 || window.reserved < 0) violations.push(`window ${id}: negative amounts`);
  }

  // Each hold is its reservation's whole amount in its metric (a top-up raises all of them alike):
  // what lets a settle within the reservation's amount book no more than any hold it replaces,
  // and so cross no alert threshold (the single-statement and SQLite settles record none).
  for (const hold of holds) {
    const r = reservationById.get(hold.reservation_id);
    const whole = r && (hold.metric === 'cost' ? r.amount_micro_usd : r.tokens);
    if (hold.amount !== whole) {
      violations.push(
        `hold ${hold.reservation_id} on ${key(hold.policy_id, hold.period_key)}: ${hold.amount} ${hold.metric} but its reservation holds ${whole ?? 'nothing'}`,
      );
    }
  }

  const heldBy = new Map<string, number>();
  holds.forEach((h) => heldBy.set(h.reservation_id, (heldBy.get(h.reservation_id) ?? 0) + 1));
  const recordsBy = new Map<string, number>();
  usage.forEach((u) => recordsBy.set(u.reservation_id, (recordsBy.get(u.reservation_id) ?? 0) + 1));
  for (const r of reservations) {
    const records = recordsBy.get(r.reservation_id) ?? 0;
    // I2: a reservation resolves at most once: settled ones booked each hold once, others none.
    if (r.state === 'settled' && records !== (heldBy.get(r.reservation_id) ?? 0)) {
      violations.push(
        `I2 reservation ${r.reservation_id}: settled with ${records} usage records for ${heldBy.get(r.reservation_id) ?? 0} holds`,
      );
    }
    if (r.state !== 'settled' && records !== 0) {
      violations.push(`I2 reservation ${r.reservation_id}: ${r.state} but has ${records} usage records`);
    }
    if ((r.state === 'pending') !== (r.resolution === null && r.state !== 'refused')) {
      violations.push(`I2 reservation ${r.reservation_id}: state ${r.state} disagrees with its recorded resolution`);
    }
    // I3: settled ≤ reserved unless an overage entry says why.
    if (
      r.state === 'settled' &&
      ((r.settled_micro_usd ?? 0) > r.amount_micro_usd || (r.settled_tokens ?? 0) > r.tokens) &&
      !overaged.has(r.reservation_id)
    ) {
      violations.push(
        `I3 reservation ${r.reservation_id}: settled ${r.settled_micro_usd} µUSD > reserved ${r.amount_micro_usd} without an overage entry`,
      );
    }
    // I4: no pending reservation older than its expiry plus one sweep interval.
    if (r.state === 'pending' && Date.parse(r.expires_at) + options.sweepIntervalMs < options.now.getTime()) {
      violations.push(`I4 reservation ${r.reservation_id}: pending past its expiry ${r.expires_at}`);
    }
  }
  return violations;
}
