/**
 * A PostgreSQL connection that breaks while it sits idle in the ledger's pool (a server restart, an
 * operator terminating backends) is dropped and replaced: the process keeps running and the next
 * ledger call works.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { openPostgres } from '../../src/ledger';
import { testEnv } from '../support/env';
import { createTestLedgerStore, ledgerDialects } from '../support/ledger';

const describePostgres = ledgerDialects().includes('postgres') ? describe : describe.skip;

describePostgres('the ledger pool on PostgreSQL', () => {
  it('survives its idle connections being terminated, and the next query gets a fresh one', async () => {
    const store = await createTestLedgerStore('postgres');
    const applicationName = `palyra_idle_${randomBytes(4).toString('hex')}`;
    const url = new URL(store.location);
    url.searchParams.set('application_name', applicationName);
    const connection = openPostgres(url.toString(), 3);
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const admin = new pg.Client({ connectionString: process.env[testEnv.postgresUrl] });
    await admin.connect();
    try {
      // Three connections open at once, then idle in the pool.
      await Promise.all([1, 2, 3].map(() => sql`select pg_sleep(0.05)`.execute(connection.db)));
      const terminated = await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [
        applicationName,
      ]);
      expect(terminated.rowCount).toBe(3);
      await new Promise((resolve) => setTimeout(resolve, 300));

      const { rows } = await sql<{ answer: number }>`select 41 + 1 as answer`.execute(connection.db);
      expect(rows).toEqual([{ answer: 42 }]);
      expect(written.join('')).toContain('ledger: an idle PostgreSQL connection failed and was dropped');
    } finally {
      spy.mockRestore();
      await admin.end();
      await connection.close();
      await store.drop();
    }
  });
});
