/**
 * A PostgreSQL database of the benchmark's own, created on the server of
 * $PALYRA_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test) and dropped after,
 * so a benchmark's ledger starts empty and leaves nothing behind.
 */
import pg from 'pg';
import { testEnv } from '../../test/support/env';

export const defaultPostgresUrl = 'postgres://postgres@127.0.0.1:5432/test';

export interface BenchDatabase {
  url: string;
  drop(): Promise<void>;
}

export async function createBenchDatabase(name: string): Promise<BenchDatabase> {
  const adminUrl = process.env[testEnv.postgresUrl] || defaultPostgresUrl;
  const database = `palyra_bench_${name}_${process.pid}_${Date.now()}`.replace(/[^a-z0-9_]/g, '_');
  const admin = adminClient(adminUrl);
  await admin.connect();
  try {
    await admin.query(`create database ${database}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return {
    url: url.toString(),
    async drop() {
      const dropper = adminClient(adminUrl);
      await dropper.connect();
      try {
        await dropper.query(`drop database if exists ${database} with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

/**
 * A client of the server's admin database. A connection lost under it (a server restart, its
 * backend terminated) also fails the statement under way, which reports it; without a listener the
 * client's 'error' event would end the benchmark instead.
 */
function adminClient(url: string): pg.Client {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on('error', (error) => process.stderr.write(`bench: PostgreSQL admin connection lost: ${error.message}\n`));
  return client;
}
