import type SQLite from 'better-sqlite3';
import type { Kysely } from 'kysely';
import type { LedgerDialect } from '../database';
import type { LedgerDatabase } from '../schema';

export type Db = Kysely<LedgerDatabase>;

/** What every part of the repository shares: one connection, one clock, one way to write. */
export interface LedgerContext {
  db: Db;
  dialect: LedgerDialect;
  /** SQLite only: the handle under `db`, for the synchronous reserve and settle. */
  sqlite?: SQLite.Database;
  clock: () => Date;
  /** Called between the statements of the reservation writes; tests throw here to inject crashes. */
  checkpoint: (point: string) => void | Promise<void>;
  writeTransaction: <T>(fn: (trx: Db) => Promise<T>) => Promise<T>;
  /** Runs the hook once the transaction `trx` has committed (never if it rolls back). */
  afterCommit: (trx: Db, hook: () => void) => void;
}
