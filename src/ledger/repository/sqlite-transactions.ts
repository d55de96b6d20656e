import type SQLite from 'better-sqlite3';
import type { Selectable } from 'kysely';
import { decideAdmission, policyApplies, policyWindowKey, type Hold } from '../../domain/budget';
import type { LedgerDatabase } from '../schema';
import type { LedgerContext } from './context';
import { toPolicy, type StoredPolicy } from './policies';
import { admissionOutcome, pricesOf, reservationRow, settledWithinHold } from './reservation-rows';
import type { ReserveOutcome, ReserveRequest, ResolutionOutcome, SettleRequest } from './reservations';
import { byWindow, compareWindows, crossingAlerts, windowId, type Crossing, type PolicyWindow } from './windows';

/**
 * SQLite's reserve and its common settle, run synchronously over statements prepared once per
 * connection and committed in groups (issue 13). better-sqlite3 runs in this thread, so through
 * Kysely every statement of a ledger transaction was compiled and prepared again and cost an
 * await: a reserve+settle pair took 5 to 10 times a plain two-statement transaction, nearly all of
 * it outside SQLite. Here each write runs without yielding, and the writes that arrive together
 * share one BEGIN IMMEDIATE … COMMIT (see `drain`), which is most of what is left of their cost.
 *
 * Same rules and the same rows as the locked paths in reservations.ts, which stay for approval
 * overrides and for every settle beyond the common one (an overage, a settle after expiry, a
 * repeat). The Kysely connection is held for the whole commit, so no Kysely transaction of this
 * process can be open on the connection meanwhile; other processes wait on the write lock
 * (busy_timeout), as they do for any transaction.
 *
 * The repository's checkpoints are called between the statements, as on the other paths; a
 * checkpoint that throws rolls that write back to its savepoint. They are called synchronously
 * here: a checkpoint that would wait (returns a promise) is refused, since nothing may interleave.
 */

/** A bound on one group commit, so that its writers wait for at most this many others. */
const maxWritesPerCommit = 64;

export function createSqliteTransactions(
  { db, clock, checkpoint }: Pick<LedgerContext, 'db' | 'clock' | 'checkpoint'>,
  sqlite: SQLite.Database,
) {
  const statements = new Map<string, SQLite.Statement>();
  /** Prepared on first use (the tables exist only once the ledger is migrated), then reused. */
  const statement = (text: string): SQLite.Statement => {
    let prepared = statements.get(text);
    if (!prepared) {
      prepared = sqlite.prepare(text);
      statements.set(text, prepared);
    }
    return prepared;
  };

  const passCheckpoint = (point: string): void => {
    const pending = checkpoint(point);
    if (pending && typeof (pending as Promise<void>).then === 'function') {
      throw new Error(`checkpoint ${point}: SQLite's ledger transactions run synchronously and cannot wait on a checkpoint`);
    }
  };

  /** Window rows are never deleted, so each is created at most once per process (then remembered). */
  const knownWindows = new Set<string>();

  /**
   * Group commit: the writes that arrive while the connection is busy wait for it together and then
   * share one BEGIN IMMEDIATE … COMMIT, each in a savepoint of its own, in arrival order. Each one
   * sees the ones before it, exactly as if they ran one after another; one that throws is rolled
   * back to its savepoint alone and rejects alone; none is answered before the commit, and if the
   * commit fails they all do. Under concurrency a pair of writes then costs a share of a commit
   * instead of a commit each: SQLite's cost here is mostly the pages a commit appends to the WAL,
   * and writes in a row touch the same pages.
   */
  type WriteOutcome = { value: unknown } | { error: unknown };
  interface QueuedWrite {
    write: () => unknown;
    answer: (outcome: WriteOutcome) => void;
  }
  const queued: QueuedWrite[] = [];
  let draining = false;

  function inSharedCommit<T>(write: () => T): Promise<T> {
    return new Promise((resolve, reject) => {
      queued.push({
        write,
        answer: (outcome) => ('error' in outcome ? reject(outcome.error) : resolve(outcome.value as T)),
      });
      if (!draining) void drain();
    });
  }

  async function drain(): Promise<void> {
    draining = true;
    try {
      while (queued.length > 0) {
        let batch: QueuedWrite[] = [];
        let outcomes: WriteOutcome[];
        try {
          // Kysely's connection, held so that no Kysely transaction of this process is open meanwhile.
          outcomes = await db.connection().execute(async () => {
            // Whatever queued up while the connection was being acquired goes into this commit.
            batch = queued.splice(0, maxWritesPerCommit);
            if (sqlite.inTransaction) throw new Error('a ledger transaction is already open on this SQLite connection');
            return sqlite
              .transaction(() =>
                batch.map(({ write }): WriteOutcome => {
                  try {
                    // Nested, better-sqlite3 runs it in a savepoint: released, or rolled back to on a throw.
                    return { value: sqlite.transaction(write)() };
                  } catch (error) {
                    // Some errors (a full disk, an I/O error) make SQLite roll back the whole
                    // transaction, not just the savepoint: then nothing of this batch holds, and
                    // the writes after this one must not run outside it, so the batch fails whole.
                    if (!sqlite.inTransaction) throw error;
                    return { error };
                  }
                }),
              )
              .immediate();
          });
        } catch (error) {
          // Nothing was committed (BEGIN or COMMIT failed, the connection is gone): none of them took
          // effect. A connection that could not even be acquired fails the writes waiting for it.
          if (batch.length === 0) batch = queued.splice(0, maxWritesPerCommit);
          outcomes = batch.map(() => ({ error }));
        }
        batch.forEach(({ answer }, i) => answer(outcomes[i] as WriteOutcome));
      }
    } finally {
      draining = false;
    }
  }

  function storedOutcome(reservationId: string): ReserveOutcome | undefined {
    const row = statement('select outcome from reservations where reservation_id = ?').get(reservationId) as
      { outcome: string } | undefined;
    return row ? (JSON.parse(row.outcome) as ReserveOutcome) : undefined;
  }

  /**
   * Every policy, read again only when the policies changed: triggers on `budget_policies` bump
   * its version in `ledger_versions` (migration 0010), which is read inside the transaction, so a
   * decision never uses a policy other than the one stored at that moment.
   */
  let cachedPolicies: { version: number; byId: Map<string, StoredPolicy> } | undefined;
  function policies(): Map<string, StoredPolicy> {
    const { version } = statement(`select version from ledger_versions where name = 'budget_policies'`).get() as {
      version: number;
    };
    if (cachedPolicies?.version !== version) {
      const rows = statement('select * from budget_policies').all() as Selectable<LedgerDatabase['budget_policies']>[];
      cachedPolicies = { version, byId: new Map(rows.map((row) => [row.policy_id, toPolicy(row)])) };
    }
    return cachedPolicies.byId;
  }

  /** The enabled policies that apply to the scope, each with its current generation's window (created if new). */
  function windowsFor(request: ReserveRequest, now: Date) {
    const keys = [...policies().values()]
      .filter((policy) => policyApplies(policy, request.scope))
      .map((policy) => ({ policy, periodKey: policyWindowKey(policy, now) }))
      .sort(byWindow);
    const created: string[] = [];
    for (const key of keys) {
      const id = windowId(key.policy.policyId, key.periodKey);
      if (knownWindows.has(id)) continue;
      statement('insert into policy_windows (policy_id, period_key) values (?, ?) on conflict do nothing').run(
        key.policy.policyId,
        key.periodKey,
      );
      created.push(id);
    }
    return { keys, created };
  }

  function usageOf(window: PolicyWindow) {
    return statement('select spent, reserved from policy_windows where policy_id = ? and period_key = ?').get(
      window.policy.policyId,
      window.periodKey,
    ) as { spent: number; reserved: number };
  }

  function recordAlerts(crossings: Crossing[], now: Date): void {
    for (const alert of crossingAlerts(crossings, now)) {
      statement(
        `insert into budget_alerts (policy_id, period_key, threshold, committed, limit_value, created_at)
         values (@policy_id, @period_key, @threshold, @committed, @limit_value, @created_at)
         on conflict (policy_id, period_key, threshold) do nothing`,
      ).run(alert);
    }
  }

  /**
   * Checks every applicable policy window and books the hold (or records the refusal), as the
   * locked admission does; a repeated reservation id returns its first outcome. Not for approval
   * overrides.
   */
  async function reserve(request: ReserveRequest): Promise<ReserveOutcome> {
    const { outcome, created } = await inSharedCommit(() => {
      const existing = storedOutcome(request.reservationId);
      if (existing) return { outcome: existing, created: [] };
      const now = clock();
      const { keys, created } = windowsFor(request, now);
      const usage = keys.map(usageOf);
      passCheckpoint('reserve:windows-locked');

      const decision = decideAdmission(
        keys.map(({ policy, periodKey }, i) => ({ policy, periodKey, usage: usage[i] as { spent: number; reserved: number } })),
        {
          inputTokens: request.inputTokens,
          maxOutputTokens: request.maxOutputTokens,
          price: request.price,
          minOutputTokens: request.minOutputTokens ?? 1,
          approvalOverride: false,
        },
      );
      const outcome = admissionOutcome(request, decision);
      statement(
        `insert into reservations (reservation_id, run_id, state, tenant_id, principal_id, model_id, input_tokens,
           max_output_tokens, amount_micro_usd, tokens, input_micro_usd_per_mtok, output_micro_usd_per_mtok,
           catalog_version, expires_at, created_at, resolved_at, settled_micro_usd, settled_tokens, outcome, resolution)
         values (@reservation_id, @run_id, @state, @tenant_id, @principal_id, @model_id, @input_tokens,
           @max_output_tokens, @amount_micro_usd, @tokens, @input_micro_usd_per_mtok, @output_micro_usd_per_mtok,
           @catalog_version, @expires_at, @created_at, @resolved_at, @settled_micro_usd, @settled_tokens, @outcome, @resolution)`,
      ).run(reservationRow(request, now, outcome));
      passCheckpoint('reserve:reservation-inserted');
      if (!decision.admitted) return { outcome, created };

      const crossings = decision.holds.map((hold: Hold): Crossing => {
        statement(
          'insert into reservation_holds (reservation_id, policy_id, period_key, metric, amount) values (?, ?, ?, ?, ?)',
        ).run(request.reservationId, hold.policyId, hold.periodKey, hold.metric, hold.amount);
        statement('update policy_windows set reserved = reserved + ? where policy_id = ? and period_key = ?').run(
          hold.amount,
          hold.policyId,
          hold.periodKey,
        );
        const index = keys.findIndex((k) => k.policy.policyId === hold.policyId);
        const { spent, reserved } = usage[index] as { spent: number; reserved: number };
        passCheckpoint(`reserve:hold-booked:${hold.policyId}`);
        return {
          policy: (keys[index] as PolicyWindow).policy,
          periodKey: hold.periodKey,
          before: spent + reserved,
          after: spent + reserved + hold.amount,
        };
      });
      recordAlerts(crossings, now);
      passCheckpoint('reserve:alerts-recorded');
      return { outcome, created };
    });
    // Only after commit is a new window row certain to exist for other transactions.
    created.forEach((id) => knownWindows.add(id));
    return outcome;
  }

  /**
   * The common settle: a pending, unexpired reservation whose hold covers the usage is claimed
   * (pending → settled) and its usage booked into its windows, releasing the hold. Undefined, with
   * nothing written, for every other case: the locked settle decides those.
   */
  async function settleWithinHold(request: SettleRequest): Promise<ResolutionOutcome | undefined> {
    return inSharedCommit((): ResolutionOutcome | undefined => {
      const now = clock();
      const reservation = statement(
        `select run_id, state, expires_at, amount_micro_usd, tokens, input_micro_usd_per_mtok, output_micro_usd_per_mtok
         from reservations where reservation_id = ?`,
      ).get(request.reservationId) as
        | Pick<
            Selectable<LedgerDatabase['reservations']>,
            | 'run_id'
            | 'state'
            | 'expires_at'
            | 'amount_micro_usd'
            | 'tokens'
            | 'input_micro_usd_per_mtok'
            | 'output_micro_usd_per_mtok'
          >
        | undefined;
      if (!reservation || reservation.state !== 'pending' || reservation.expires_at <= now.toISOString()) return undefined;
      const { outcome, cost, tokens } = settledWithinHold(request, pricesOf(reservation));
      if (cost > reservation.amount_micro_usd || tokens > reservation.tokens) return undefined;
      statement(
        `update reservations set state = 'settled', resolved_at = ?, settled_micro_usd = ?, settled_tokens = ?, resolution = ?
         where reservation_id = ? and state = 'pending'`,
      ).run(now.toISOString(), cost, tokens, JSON.stringify(outcome), request.reservationId);
      passCheckpoint('settle:reservation-claimed');

      const holds = (
        statement('select * from reservation_holds where reservation_id = ?').all(request.reservationId) as Selectable<
          LedgerDatabase['reservation_holds']
        >[]
      ).sort((a, b) => compareWindows(a.policy_id, a.period_key, b.policy_id, b.period_key));
      // No alerts: each hold is its reservation's whole amount in its metric (a ledger invariant), so
      // a settle within the reservation lowers every window it books into and crosses no threshold.
      for (const hold of holds) {
        const actual = hold.metric === 'cost' ? cost : tokens;
        statement(
          `insert into usage_records (reservation_id, policy_id, period_key, run_id, metric, amount, created_at)
           values (?, ?, ?, ?, ?, ?, ?)`,
        ).run(hold.reservation_id, hold.policy_id, hold.period_key, reservation.run_id, hold.metric, actual, now.toISOString());
        statement(
          'update policy_windows set reserved = reserved - ?, spent = spent + ? where policy_id = ? and period_key = ?',
        ).run(hold.amount, actual, hold.policy_id, hold.period_key);
        passCheckpoint(`settle:window-booked:${hold.policy_id}`);
      }
      return outcome;
    });
  }

  return { reserve, settleWithinHold };
}
