import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import {
  checkLedgerInvariants,
  createLedgerRepository,
  migrateLedger,
  openPostgres,
  openSqlite,
  type LedgerConnection,
  type LedgerDialect,
  type LedgerRepository,
  type LedgerRepositoryOptions,
} from '../../src/ledger';
import { testEnv } from './env';

/** SQLite always; PostgreSQL whenever the global setup found (or was told about) a server. */
export function ledgerDialects(): LedgerDialect[] {
  return process.env[testEnv.postgresUrl] ? ['sqlite', 'postgres'] : ['sqlite'];
}

export interface TestLedgerStore {
  dialect: LedgerDialect;
  /** Opens another connection to the same store (what another process would do). */
  connect(poolSize?: number): LedgerConnection;
  /** A URL or file path that a child process can open. */
  location: string;
  drop(): Promise<void>;
}

/** A fresh, empty, migrated store: a temp SQLite file, or a PostgreSQL schema of its own. */
export async function createTestLedgerStore(dialect: LedgerDialect): Promise<TestLedgerStore> {
  if (dialect === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-ledger-'));
    const file = path.join(dir, 'ledger.db');
    const first = openSqlite(file);
    await migrateLedger(first.db as never);
    await first.close();
    return {
      dialect,
      location: file,
      connect: () => openSqlite(file),
      drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  const baseUrl = process.env[testEnv.postgresUrl] as string;
  const schema = `palyra_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const location = url.toString();
  const first = openPostgres(location, 2);
  await migrateLedger(first.db as never);
  await first.close();
  return {
    dialect,
    location,
    connect: (poolSize = 10) => openPostgres(location, poolSize),
    async drop() {
      const cleanup = new pg.Client({ connectionString: baseUrl });
      await cleanup.connect();
      await cleanup.query(`drop schema ${schema} cascade`);
      await cleanup.end();
    },
  };
}

export interface TestLedger {
  store: TestLedgerStore;
  connection: LedgerConnection;
  repo: LedgerRepository;
  invariants(now: Date, sweepIntervalMs?: number): Promise<string[]>;
  close(): Promise<void>;
}

export async function openTestLedger(
  dialect: LedgerDialect,
  options: Omit<LedgerRepositoryOptions, 'connection'> = {},
): Promise<TestLedger> {
  const store = await createTestLedgerStore(dialect);
  const connection = store.connect();
  const repo = createLedgerRepository({ connection, ...options });
  return {
    store,
    connection,
    repo,
    invariants: (now, sweepIntervalMs = 60_000) => checkLedgerInvariants(connection.db, { now, sweepIntervalMs }),
    async close() {
      await connection.close();
      await store.drop();
    },
  };
}
