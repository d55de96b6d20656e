import { sql } from 'kysely';
import { reachedThresholds } from '../../src/domain/budget';
import { ledgerMigration } from '../../src/ledger';
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

describe.each(ledgerDialects())('alerts on %s after a policy changes its limits', (dialect) => {
  it('are recorded at the new limits', async () => {
    const ledger = await openTestLedger(dialect);
    try {
      const reserve = (reservationId: string) =>
        ledger.repo.reserve({
          reservationId,
          runId: `run-${reservationId}`,
          scope: { tenantId: 'acme', principalId: 'svc', modelId: 'sim-standard' },
          inputTokens: 100,
          maxOutputTokens: 50,
          price: testPrice,
          catalogVersion: 'test',
          expiresAt: new Date(Date.now() + 3_600_000),
        });
      await ledger.repo.putPolicy(testPolicy({ policyId: 'acme-day', hardLimit: 100_000 }));
      expect(await reserve('r1')).toMatchObject({ status: 'admitted', amountMicroUsd: 750 });
      expect((await ledger.repo.usageReport(new Date()))[0]?.alerts).toEqual([]);
      // 750 → 1,500 of 1,500 crosses 80 % (1,200), 95 % (1,425) and the limit; of 100,000, nothing.
      await ledger.repo.putPolicy(testPolicy({ policyId: 'acme-day', hardLimit: 1_500 }));
      expect(await reserve('r2')).toMatchObject({ status: 'admitted', amountMicroUsd: 750 });
      const alerts = (await ledger.repo.usageReport(new Date()))[0]?.alerts ?? [];
      expect(alerts.map((alert) => alert.threshold).sort()).toEqual(['hard', 'pct80', 'pct95']);
      expect(alerts.find((alert) => alert.threshold === 'hard')).toMatchObject({ committed: 1_500, limit: 1_500 });
    } finally {
      await ledger.close();
    }
  });
});

const onPostgres = ledgerDialects().includes('postgres') ? describe : describe.skip;

onPostgres('migrations 0008 and 0009 on PostgreSQL', () => {
  it('0009 undone puts back exactly what 0008 creates; both applied again, reserve and settle work', async () => {
    const ledger = await openTestLedger('postgres');
    try {
      const db = ledger.connection.db;
      // Each function as PostgreSQL would recreate it: language, settings and source.
      const functions = async () =>
        (
          await sql<{ proname: string; definition: string }>`select proname, pg_get_functiondef(oid) as definition
            from pg_proc where pronamespace = current_schema()::regnamespace
            and proname in ('palyra_record_crossings', 'palyra_reserve_in_full', 'palyra_settle_within_hold',
              'palyra_read_for_settle')
            order by proname`.execute(db)
        ).rows;
      const apply = (name: string) => db.transaction().execute((trx) => ledgerMigration(name).up(trx));
      const undo = (name: string) =>
        db.transaction().execute(async (trx) => {
          const { down } = ledgerMigration(name);
          if (!down) throw new Error(`${name} cannot be undone`);
          await down(trx);
        });
      const latest = await functions();
      expect(latest.map((f) => f.proname)).toEqual([
        'palyra_read_for_settle',
        'palyra_record_crossings',
        'palyra_reserve_in_full',
        'palyra_settle_within_hold',
      ]);

      await undo('0009_cheaper_single_statements');
      const undone = await functions();
      expect(undone.map((f) => f.proname)).toEqual([
        'palyra_record_crossings',
        'palyra_reserve_in_full',
        'palyra_settle_within_hold',
      ]);
      await undo('0008_single_statement_reservations');
      expect(await functions()).toEqual([]);
      await apply('0008_single_statement_reservations');
      expect(await functions()).toEqual(undone);
      await apply('0009_cheaper_single_statements');
      expect(await functions()).toEqual(latest);

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
