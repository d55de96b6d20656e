/**
 * Reserve keeps the policies it read and reads them again only when `ledger_versions` says they
 * changed (migration 0010's triggers). These tests change policies every way an installation can,
 * from another connection (another process) and by hand, and check that the very next reservation
 * is decided by the policies as they are now.
 */
import { sql } from 'kysely';
import { createLedgerRepository, type LedgerConnection, type LedgerRepository, type ReserveRequest } from '../../src/ledger';
import { testPolicy as policy, testWholeReservation } from './support/fixtures';
import { ledgerDialects, openTestLedger, type TestLedger } from '../support/ledger';

const now = new Date('2026-11-27T12:00:00Z');
let sequence = 0;

/** A fresh reservation id each time: 750 µUSD. */
function reservation(): ReserveRequest {
  sequence += 1;
  return testWholeReservation(`r${sequence}`);
}

describe.each(ledgerDialects())('policy changes reach the next reservation on %s', (dialect) => {
  let ledger: TestLedger;
  /** Another process: its own connection and repository. */
  let otherConnection: LedgerConnection;
  let other: LedgerRepository;

  beforeEach(async () => {
    ledger = await openTestLedger(dialect, { clock: () => now });
    otherConnection = ledger.store.connect(2);
    other = createLedgerRepository({ connection: otherConnection, clock: () => now });
  });
  afterEach(async () => {
    expect(await ledger.invariants(now)).toEqual([]);
    await otherConnection.close();
    await ledger.close();
  });

  const version = async () =>
    Number(
      (
        await ledger.connection.db
          .selectFrom('ledger_versions')
          .select('version')
          .where('name', '=', 'budget_policies')
          .executeTakeFirstOrThrow()
      ).version,
    );

  it('a limit lowered, a policy added, disabled, re-enabled and deleted by another process', async () => {
    await ledger.repo.putPolicy(policy({ policyId: 'acme-day', hardLimit: 10_000 }));
    expect(await ledger.repo.reserve(reservation())).toMatchObject({ status: 'admitted' });

    await other.putPolicy(policy({ policyId: 'acme-day', hardLimit: 1_000 })); // 750 spent: no room for 750 more
    expect(await ledger.repo.reserve(reservation())).toMatchObject({
      status: 'refused',
      refusal: { policyId: 'acme-day', limit: 1_000 },
    });

    await other.putPolicy(policy({ policyId: 'acme-day', hardLimit: 10_000 }));
    await other.putPolicy(policy({ policyId: 'acme-tight', hardLimit: 700 }));
    expect(await ledger.repo.reserve(reservation())).toMatchObject({ status: 'refused', refusal: { policyId: 'acme-tight' } });

    await other.putPolicy(policy({ policyId: 'acme-tight', hardLimit: 700, enabled: false }));
    expect(await ledger.repo.reserve(reservation())).toMatchObject({ status: 'admitted' });

    await other.putPolicy(policy({ policyId: 'acme-tight', hardLimit: 700, enabled: true }));
    expect(await ledger.repo.reserve(reservation())).toMatchObject({ status: 'refused', refusal: { policyId: 'acme-tight' } });

    expect(await other.deletePolicy('acme-tight')).toBe(true);
    expect(await ledger.repo.reserve(reservation())).toMatchObject({ status: 'admitted' });
  });

  it('a policy changed by hand in SQL, outside the repository', async () => {
    await ledger.repo.putPolicy(policy({ policyId: 'acme-day', hardLimit: 10_000 }));
    expect(await ledger.repo.reserve(reservation())).toMatchObject({ status: 'admitted' });
    const before = await version();

    await sql`update budget_policies set hard_limit = 1000 where policy_id = 'acme-day'`.execute(otherConnection.db);
    expect(await version()).toBeGreaterThan(before);
    expect(await ledger.repo.reserve(reservation())).toMatchObject({ status: 'refused', refusal: { limit: 1_000 } });

    await sql`delete from budget_policies where policy_id = 'acme-day'`.execute(otherConnection.db);
    expect(await ledger.repo.reserve(reservation())).toMatchObject({ status: 'admitted' });
  });
});

const describePostgres = ledgerDialects().includes('postgres') ? describe : describe.skip;

describePostgres('policies that change under every single-statement reserve (PostgreSQL)', () => {
  it('reads them again each time, then decides on the locked path by the policy as it is last', async () => {
    let changes = 0;
    const points: string[] = [];
    let other: LedgerRepository | undefined;
    // Each single-statement attempt finds the policy changed by another process just before it runs.
    const ledger = await openTestLedger('postgres', {
      clock: () => now,
      checkpoint: async (point) => {
        points.push(point);
        if (point !== 'reserve:single-statement' || !other) return;
        changes += 1;
        await other.putPolicy(policy({ policyId: 'acme-day', hardLimit: changes === 3 ? 500 : 10_000 - changes }));
      },
    });
    const otherConnection = ledger.store.connect(2);
    try {
      await ledger.repo.putPolicy(policy({ policyId: 'acme-day', hardLimit: 10_000 }));
      other = createLedgerRepository({ connection: otherConnection, clock: () => now });
      expect(await ledger.repo.reserve(reservation())).toMatchObject({
        status: 'refused',
        refusal: { policyId: 'acme-day', limit: 500 },
      });
      expect(changes).toBe(3);
      expect(points.filter((point) => point === 'reserve:single-statement')).toHaveLength(3);
      expect(points).toContain('reserve:windows-locked');
      expect(await ledger.invariants(now)).toEqual([]);
    } finally {
      await otherConnection.close();
      await ledger.close();
    }
  });
});
