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

/** Prefix of the PostgreSQL schemas tests create: `palyra_test_<run tag>_<random>`. */
export const testSchemaPrefix = 'palyra_test_';

/**
 * The tag of this test run (the global setup sets it; a benchmark makes its own): the run's start
 * time in base 36, so one run drops only its own schemas and never those of a run beside it.
 */
function runTag(): string {
  process.env[testEnv.schemaRunTag] ??= Date.now().toString(36);
  return process.env[testEnv.schemaRunTag] as string;
}

/** Schemas older than this are leftovers of an interrupted run, whoever made them. */
const leftoverAfterMs = 6 * 60 * 60_000;

/**
 * Drops this run's schemas (global teardown), or with `leftovers`, every test schema whose run
 * started more than six hours ago (global setup). Schemas of a run still going are left alone.
 */
export async function dropTestSchemas(baseUrl: string, { leftovers = false }: { leftovers?: boolean } = {}): Promise<void> {
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ nspname: string }>('select nspname from pg_namespace where nspname like $1', [
      `${testSchemaPrefix}%`,
    ]);
    const ownPrefix = `${testSchemaPrefix}${runTag()}_`;
    const stale = (name: string) => {
      const tag = name.slice(testSchemaPrefix.length).split('_')[0] ?? '';
      const startedAt = parseInt(tag, 36);
      // Names without a tag come from before tags existed: leftovers too.
      return !name.slice(testSchemaPrefix.length).includes('_') || !(Date.now() - startedAt < leftoverAfterMs);
    };
    for (const { nspname } of rows) {
      if (leftovers ? stale(nspname) : nspname.startsWith(ownPrefix)) await client.query(`drop schema ${nspname} cascade`);
    }
  } finally {
    await client.end();
  }
}

/**
 * A fresh, empty, migrated store: a temp SQLite file, or a PostgreSQL schema of its own.
 *
 * PostgreSQL schemas are dropped by the global teardown, not one by one: Kysely's migrator reads
 * the catalog of every schema, and a schema dropped by a parallel test file in the middle of that
 * read fails it ("schema … does not exist"). `dropImmediately` is for the benchmark, which runs alone.
 */
export async function createTestLedgerStore(
  dialect: LedgerDialect,
  options: { dropImmediately?: boolean } = {},
): Promise<TestLedgerStore> {
  if (dialect === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-ledger-'));
    const file = path.join(dir, 'ledger.db');
    const first = openSqlite(file);
    await migrateLedger(first.db as never, first.dialect);
    await first.close();
    return {
      dialect,
      location: file,
      connect: () => openSqlite(file),
      drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  const baseUrl = process.env[testEnv.postgresUrl] as string;
  const schema = `${testSchemaPrefix}${runTag()}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const location = url.toString();
  const first = openPostgres(location, 2);
  await migrateBesideOtherRuns(first);
  await first.close();
  return {
    dialect,
    location,
    connect: (poolSize = 10) => openPostgres(location, poolSize),
    async drop() {
      if (!options.dropImmediately) return;
      const cleanup = new pg.Client({ connectionString: baseUrl });
      await cleanup.connect();
      await cleanup.query(`drop schema ${schema} cascade`);
      await cleanup.end();
    },
  };
}

/**
 * Kysely's migrator reads the catalog of every schema in the database, and fails when one of them
 * is dropped in the middle of that read ("schema … does not exist"): another test run against the
 * same server (a developer's, beside CI) dropping its own schemas as it ends. Migrations run in one
 * transaction on PostgreSQL, so a failed attempt left nothing behind and is made again.
 */
async function migrateBesideOtherRuns(connection: LedgerConnection): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await migrateLedger(connection.db as never, connection.dialect);
      return;
    } catch (error) {
      if (attempt >= 3 || !/schema "[^"]+" does not exist/.test((error as Error).message)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
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
