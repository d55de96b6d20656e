import { sql } from 'kysely';
import { ledgerMigrationNames } from '../../ledger';
import type { SectionContext } from '../deps';
import { verdictOf, type Finding } from '../run-section';
import type { LedgerFigures, SectionVerdict } from '../types';

/**
 * Invariant I4: no pending hold outlives its expiry by more than one sweep interval. This margin on
 * top covers a sweep in progress, so only a hold the sweepers really missed is reported.
 */
export const overdueHoldMarginMs = 30_000;

export async function ledgerSection({ deps, now }: SectionContext): Promise<SectionVerdict & LedgerFigures> {
  const { connection } = deps.ledger;
  const { db } = connection;
  const nowIso = now.toISOString();
  const [appliedRows, pending] = await Promise.all([
    sql<{ name: string }>`select name from kysely_migration`.execute(db),
    db
      .selectFrom('reservations')
      .select((eb) => [
        eb.fn.countAll<number | string>().as('pending'),
        eb.fn.sum<number | string>(eb.case().when('expires_at', '<', nowIso).then(1).else(0).end()).as('past_expiry'),
        eb.fn.min<string | null>('created_at').as('oldest_created'),
        eb.fn.min<string | null>('expires_at').as('earliest_expiry'),
      ])
      .where('state', '=', 'pending')
      .executeTakeFirstOrThrow(),
  ]);
  const applied = new Set(appliedRows.rows.map((r) => r.name));
  const known = new Set(ledgerMigrationNames);
  const pendingMigrations = ledgerMigrationNames.filter((name) => !applied.has(name));
  const unknownMigrations = [...applied].filter((name) => !known.has(name)).sort();

  const pendingCount = Number(pending.pending);
  const pastExpiry = Number(pending.past_expiry ?? 0);
  const age = (iso: string | null) => (iso ? Math.max(0, now.getTime() - Date.parse(iso)) : null);
  const mostOverdueMs = pastExpiry > 0 ? age(pending.earliest_expiry) : null;

  const intervalMs = deps.sweeper?.stats().intervalMs ?? deps.config.budgets.sweepIntervalMs;
  const stats = deps.sweeper?.stats();

  const findings: Finding[] = [];
  if (pendingMigrations.length > 0) {
    findings.push({
      status: 'blocking',
      code: 'migrations_pending',
      hint: `${pendingMigrations.length} ledger migration(s) not applied (${pendingMigrations.join(', ')}): start \`palyra api\` or \`palyra worker\`, which migrate`,
    });
  }
  if (unknownMigrations.length > 0) {
    findings.push({
      status: 'degraded',
      code: 'schema_newer_than_code',
      hint: `the ledger has migrations this version does not know (${unknownMigrations.join(', ')}): a newer Palyra migrated it; upgrade this process`,
    });
  }
  if (mostOverdueMs !== null && mostOverdueMs > intervalMs + overdueHoldMarginMs) {
    findings.push({
      status: 'degraded',
      code: 'holds_past_expiry',
      hint: `${pastExpiry} pending hold(s) past expiry, the oldest by ${Math.round(mostOverdueMs / 1000)} s (sweep interval ${intervalMs / 1000} s): no sweeper is running, or it fails`,
    });
  }
  if (stats?.lastFailure && now.getTime() - Date.parse(stats.lastFailure.at) <= 2 * intervalMs) {
    findings.push({
      status: 'degraded',
      code: 'sweeper_failing',
      hint: `the reservation sweeper failed recently: ${stats.lastFailure.message}`,
    });
  }
  return {
    ...verdictOf(findings),
    dialect: connection.dialect,
    location: connection.description,
    migrations: { applied: applied.size, known: known.size, pending: pendingMigrations, unknown: unknownMigrations },
    reservations: {
      pending: pendingCount,
      pendingPastExpiry: pastExpiry,
      oldestPendingAgeMs: age(pending.oldest_created),
      mostOverdueMs,
    },
    sweeper: {
      intervalMs,
      runningHere: stats !== undefined,
      sweeps: stats?.sweeps ?? null,
      lastSweepAt: stats?.lastSweepAt ?? null,
      lastExpiredCount: stats?.lastExpiredCount ?? null,
      expiryFailuresTotal: stats?.expiryFailuresTotal ?? null,
      sweepFailuresTotal: stats?.sweepFailuresTotal ?? null,
      lastFailure: stats?.lastFailure ?? null,
    },
  };
}
