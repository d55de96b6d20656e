import { sql } from 'kysely';
import { reachedThresholds } from '../../src/domain/budget';
import { migrateLedger, migrateLedgerDown } from '../../src/ledger';
import { alertBoundaries } from '../../src/ledger/repository/single-statement';
import { ledgerDialects, openTestLedger } from '../support/ledger';
import { testPolicy, testPrice } from './support/fixtures';

describe('alertBoundaries (the thresholds the single-statement writes record)', () => {
  it.each([
    { hardLimit: 1_000 },
    { hardLimit: 1_000, softLimit: 10 },
    { hardLimit: 999, softLimit: 0 },
    { hardLimit: 7, softLimit: 2_000 },
    { hardLimit: 0 },
  ])('crosses exactly what reachedThresholds says for %o', (policy) => {
    const boundaries = alertBoundaries(policy);
    const mismatches: unknown[] = [];
    for (let before = 0; before <= 1_100; before += 13) {
      for (let after = 0; after <= 2_100; after += 7) {
        const expected = reachedThresholds(policy, after).filter((t) => !reachedThresholds(policy, before).includes(t));
        const crossed = boundaries.filter((b) => before < b.reached_from && b.reached_from <= after).map((b) => b.threshold);
        if (crossed.sort().join() !== expected.sort().join()) mismatches.push({ before, after, crossed, expected });
      }
    }
    expect(mismatches).toEqual([]);
  });
});

const onPostgres = ledgerDialects().includes('postgres') ? describe : describe.skip;

onPostgres('migration 0008 on PostgreSQL', () => {
  it('drops the single-statement functions when undone and brings them back when applied again', async () => {
    const ledger = await openTestLedger('postgres');
    try {
      const db = ledger.connection.db;
      const functions = async () =>
        (
          await sql<{ proname: string }>`select proname from pg_proc where pronamespace = current_schema()::regnamespace
            and proname like 'palyra_%' order by proname`.execute(db)
        ).rows.map((r) => r.proname);
      expect(await functions()).toEqual(['palyra_record_crossings', 'palyra_reserve_in_full', 'palyra_settle_within_hold']);
      expect(await migrateLedgerDown(db as never, 'postgres')).toBe('0008_single_statement_reservations');
      expect(await functions()).toEqual([]);
      await migrateLedger(db as never, 'postgres');
      expect(await functions()).toEqual(['palyra_record_crossings', 'palyra_reserve_in_full', 'palyra_settle_within_hold']);
      await ledger.repo.putPolicy(testPolicy({ policyId: 'acme-day' }));
      const reserved = await ledger.repo.reserve({
        reservationId: 'r1',
        runId: 'run-r1',
        scope: { tenantId: 'acme', principalId: 'svc', modelId: 'sim-standard' },
        inputTokens: 100,
        maxOutputTokens: 50,
        price: testPrice,
        catalogVersion: 'test',
        expiresAt: new Date(Date.now() + 3_600_000),
      });
      expect(reserved).toMatchObject({ status: 'admitted', amountMicroUsd: 750 });
      expect(await ledger.repo.settle({ reservationId: 'r1', actual: { inputTokens: 100, outputTokens: 20 } })).toMatchObject({
        status: 'settled',
        costMicroUsd: 450,
        overage: false,
      });
      expect(await ledger.invariants(new Date())).toEqual([]);
    } finally {
      await ledger.close();
    }
  });
});
