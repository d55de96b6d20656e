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
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3_000 });
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
      const dropper = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3_000 });
      await dropper.connect();
      try {
        await dropper.query(`drop database if exists ${database} with (force)`);
      } finally {
        await dropper.end();
      }
    },
  };
}
