import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, type SqliteDatabase } from 'kysely';
import pg from 'pg';
import type { LedgerDatabase } from './schema';

export type LedgerDialect = 'sqlite' | 'postgres';

export interface LedgerConnection {
  db: Kysely<LedgerDatabase>;
  dialect: LedgerDialect;
  /** Where it points, with any password removed (safe to log and show in diagnostics). */
  description: string;
  /**
   * SQLite only: the database handle under `db`, for the ledger's synchronous transactions
   * (sqlite-transactions.ts). Everything else goes through `db`.
   */
  sqlite?: SQLite.Database;
  close(): Promise<void>;
}

// bigint columns come back from pg as strings; every amount we store fits in 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new RangeError(`ledger value ${value} exceeds 2^53`);
  return parsed;
});

export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//.test(url);
}

/** PostgreSQL when the URL is `postgres://…`, otherwise SQLite at `<dataDir>/ledger.db`. */
export function openLedger(options: { databaseUrl?: string; dataDir: string; poolSize?: number }): LedgerConnection {
  if (isPostgresUrl(options.databaseUrl)) return openPostgres(options.databaseUrl, options.poolSize ?? 10);
  if (options.databaseUrl !== undefined) {
    throw new Error(`DATABASE_URL must start with postgres:// (got '${redactUrl(options.databaseUrl)}'); unset it to use SQLite`);
  }
  return openSqlite(path.join(options.dataDir, 'ledger.db'));
}

export function openSqlite(file: string): LedgerConnection {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const database = new SQLite(file);
  // WAL lets readers run beside the one writer; the busy timeout makes writers from other
  // processes wait for the lock instead of failing at once.
  database.pragma('journal_mode = WAL');
  database.pragma('busy_timeout = 5000');
  database.pragma('synchronous = NORMAL');
  const db = new Kysely<LedgerDatabase>({ dialect: new SqliteDialect({ database: keepingStatements(database) }) });
  return { db, dialect: 'sqlite', description: `sqlite:${file}`, sqlite: database, close: () => db.destroy() };
}

/** More distinct statements than the ledger runs; past it the least recently used is dropped. */
const maxKeptStatements = 500;

/**
 * The handle as Kysely sees it, keeping the statements it prepares by their text. Kysely prepares
 * every statement again each time it runs one, and for the ledger's short statements preparing
 * costs about as much as running. A kept statement is reused only when it is not in the middle of
 * an iteration (`busy`); Kysely's `all` and `run` finish before they return.
 */
function keepingStatements(database: SQLite.Database): SqliteDatabase {
  const kept = new Map<string, SQLite.Statement>();
  return {
    close: () => database.close(),
    prepare(text) {
      const statement = kept.get(text);
      if (statement && !statement.busy) {
        // Most recently used last, so the first is the one to drop.
        kept.delete(text);
        kept.set(text, statement);
        return statement;
      }
      const prepared = database.prepare(text);
      if (!statement) {
        if (kept.size >= maxKeptStatements) kept.delete(kept.keys().next().value as string);
        kept.set(text, prepared);
      }
      return prepared;
    },
  };
}

/**
 * Every ledger transaction is a handful of short statements. A lock wait past `lock_timeout` fails
 * the transaction (the repository retries it) instead of queueing behind a stuck session, and no
 * statement or idle transaction can hold window rows for longer than these limits.
 */
export const postgresSessionLimits = {
  lock_timeout: 5_000,
  statement_timeout: 15_000,
  idle_in_transaction_session_timeout: 30_000,
} as const;

export function openPostgres(url: string, poolSize: number): LedgerConnection {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, ...postgresSessionLimits });
  // A connection that breaks while idle in the pool (a server restart, its backend terminated, the
  // idle-in-transaction limit) is dropped by the pool and replaced on the next query; without a
  // listener its 'error' event would end the whole process instead.
  pool.on('error', (error) =>
    process.stderr.write(`ledger: an idle PostgreSQL connection failed and was dropped: ${error.message}\n`),
  );
  const db = new Kysely<LedgerDatabase>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', description: redactUrl(url), close: () => db.destroy() };
}

export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}
