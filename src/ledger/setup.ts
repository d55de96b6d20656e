import type { PalyraConfig } from '../config';
import { openLedger, type LedgerConnection } from './database';
import { migrateLedger } from './migrations';
import { createLedgerRepository, type LedgerRepository } from './repository';
import { startReservationSweeper, type ReservationSweeper } from './sweeper';

export class LedgerSetupError extends Error {
  override readonly name = 'LedgerSetupError';
}

export interface ConfiguredLedger {
  connection: LedgerConnection;
  repo: LedgerRepository;
  sweeper: ReservationSweeper;
  close(): Promise<void>;
}

/**
 * Opens the process's one ledger connection (SQLite or PostgreSQL per DATABASE_URL), runs the
 * migrations, makes the config-declared policies current and sweeps expired reservations. One connection per process matters
 * for SQLite: better-sqlite3 is synchronous, and two connections in one process would block each
 * other's event loop while waiting for the write lock.
 */
export async function openConfiguredLedger(
  config: PalyraConfig,
  log: { warn(fields: object, message: string): void; info(fields: object, message: string): void },
): Promise<ConfiguredLedger> {
  let connection: LedgerConnection;
  try {
    connection = openLedger({ databaseUrl: config.database.url, dataDir: config.dataDir });
  } catch (error) {
    throw new LedgerSetupError(`cannot open the ledger: ${(error as Error).message}`);
  }
  try {
    await migrateLedger(connection.db as never, connection.dialect);
    const repo = createLedgerRepository({ connection });
    await repo.syncConfigPolicies(config.budgets.policies);
    const sweeper = startReservationSweeper({
      repo,
      intervalMs: config.budgets.sweepIntervalMs,
      onSwept: (ids) => log.info({ reservationIds: ids }, `released ${ids.length} expired reservation(s)`),
      onExpiryFailed: (reservationId, error) =>
        log.warn({ err: error, reservationId }, 'a reservation failed to expire; skipped, retrying at the next sweep'),
      onError: (error) => log.warn({ err: error }, 'reservation sweep failed; retrying at the next interval'),
    });
    return {
      connection,
      repo,
      sweeper,
      async close() {
        await sweeper.stop();
        await connection.close();
      },
    };
  } catch (error) {
    await connection.close().catch(() => undefined);
    const hint =
      connection.dialect === 'postgres'
        ? 'check DATABASE_URL and that PostgreSQL is running'
        : `check that ${config.dataDir} is writable`;
    throw new LedgerSetupError(
      `ledger at ${connection.description} is not usable (${(error as Error).message.split('\n')[0]}): ${hint}`,
    );
  }
}
