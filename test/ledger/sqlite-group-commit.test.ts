/**
 * SQLite's reserves and settles that arrive together share one commit (sqlite-transactions.ts),
 * each in a savepoint of its own. These tests attack that sharing: the hard cap under a burst that
 * lands in few commits, one write failing in the middle of a shared commit, and a commit that
 * cannot start at all.
 */
import { openSqlite } from '../../src/ledger';
import { openTestLedger, type TestLedger } from '../support/ledger';
import { testPolicy as policy, testWholeReservation } from './support/fixtures';

const now = new Date('2026-11-27T12:00:00Z');

const reservation = (id: string) => testWholeReservation(id);

describe('SQLite group commit', () => {
  let ledger: TestLedger;
  let failOn: ((point: string) => boolean) | undefined;

  beforeEach(async () => {
    failOn = undefined;
    ledger = await openTestLedger('sqlite', {
      clock: () => now,
      checkpoint: (point) => {
        if (failOn?.(point)) throw new Error(`injected failure at ${point}`);
      },
    });
    // Room for exactly 10 reservations of 750 µUSD.
    await ledger.repo.putPolicy(policy({ policyId: 'acme-day', hardLimit: 7_500 }));
  });
  afterEach(async () => {
    expect(await ledger.invariants(now)).toEqual([]);
    await ledger.close();
  });

  const window = async () =>
    ledger.connection.db.selectFrom('policy_windows').select(['spent', 'reserved']).executeTakeFirstOrThrow();
  const reservationIds = async () =>
    (await ledger.connection.db.selectFrom('reservations').select('reservation_id').execute()).map((r) => r.reservation_id);

  it('keeps the hard cap when 40 reserves and their settles arrive at once', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const outcome = await ledger.repo.reserve(reservation(`r${i}`));
        if (outcome.status === 'admitted') {
          await ledger.repo.settle({ reservationId: outcome.reservationId, actual: { inputTokens: 100, outputTokens: 50 } });
        }
        return outcome.status;
      }),
    );
    expect(outcomes.filter((status) => status === 'admitted')).toHaveLength(10);
    expect(outcomes.filter((status) => status === 'refused')).toHaveLength(30);
    expect(await window()).toEqual({ spent: 7_500, reserved: 0 });
    expect(await reservationIds()).toHaveLength(40);
  });

  it('rolls back only the write that failed in a shared commit; the others before and after it commit', async () => {
    let inserted = 0;
    // The third reservation inserted fails after its row was written, in the middle of the batch.
    failOn = (point) => point === 'reserve:reservation-inserted' && ++inserted === 3;
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => ledger.repo.reserve(reservation(`r${i}`))));
    expect(results.map((result) => result.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    expect(String((results[2] as PromiseRejectedResult).reason)).toContain('injected failure at reserve:reservation-inserted');
    expect((await reservationIds()).sort()).toEqual(['r0', 'r1', 'r3', 'r4', 'r5']);
    expect(await window()).toEqual({ spent: 0, reserved: 5 * 750 });

    // The failed one can be made again, and is booked once.
    failOn = undefined;
    expect(await ledger.repo.reserve(reservation('r2'))).toMatchObject({ status: 'admitted' });
    expect(await window()).toEqual({ spent: 0, reserved: 6 * 750 });
  });

  it('fails the whole shared commit when SQLite rolls the transaction back under one write (a full disk)', async () => {
    // A trigger on this connection stands in for an error that ends the whole transaction.
    const sqlite = ledger.connection.sqlite!;
    sqlite.exec(`create temp trigger full_disk before insert on reservations when new.reservation_id = 'boom'
      begin select raise(rollback, 'simulated: database or disk is full'); end`);
    try {
      const results = await Promise.allSettled(['a', 'boom', 'c'].map((id) => ledger.repo.reserve(reservation(id))));
      // Nothing of the batch holds, so none of it may be answered as done, the writes before the failure included.
      expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect(String((results[0] as PromiseRejectedResult).reason)).toContain('database or disk is full');
      expect(await reservationIds()).toEqual([]);
    } finally {
      sqlite.exec('drop trigger temp.full_disk');
    }
    expect(await ledger.repo.reserve(reservation('a'))).toMatchObject({ status: 'admitted' });
    expect(await window()).toEqual({ spent: 0, reserved: 750 });
  });

  it('creates a window again when the write that created it first was rolled back', async () => {
    let inserted = 0;
    failOn = (point) => point === 'reserve:reservation-inserted' && ++inserted === 1;
    const results = await Promise.allSettled(['w0', 'w1'].map((id) => ledger.repo.reserve(reservation(id))));
    expect(results.map((result) => result.status)).toEqual(['rejected', 'fulfilled']);
    expect(await window()).toEqual({ spent: 0, reserved: 750 });
    failOn = undefined;
    expect(await ledger.repo.reserve(reservation('w0'))).toMatchObject({ status: 'admitted' });
    expect(await window()).toEqual({ spent: 0, reserved: 1_500 });
  });

  it('fails every write of a commit that cannot start, writing nothing, and works once the lock is free', async () => {
    // Another connection (another process) holds the write lock past the busy timeout.
    const other = openSqlite(ledger.store.location);
    const holder = other.sqlite!;
    holder.prepare('begin immediate').run();
    try {
      const results = await Promise.allSettled([1, 2, 3].map((i) => ledger.repo.reserve(reservation(`busy${i}`))));
      expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/database is locked/);
    } finally {
      holder.prepare('rollback').run();
      await other.close();
    }
    expect(await reservationIds()).toEqual([]);
    expect(await ledger.repo.reserve(reservation('busy1'))).toMatchObject({ status: 'admitted' });
    expect(await window()).toEqual({ spent: 0, reserved: 750 });
  }, 30_000);

  it('fails the writes waiting for a connection that cannot be had, instead of leaving them waiting', async () => {
    const connection = jest
      .spyOn(ledger.connection.db, 'connection')
      .mockImplementation(() => ({ execute: () => Promise.reject(new Error('the connection is gone')) }) as never);
    try {
      const results = await Promise.allSettled([1, 2].map((i) => ledger.repo.reserve(reservation(`late${i}`))));
      expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
      expect(String((results[0] as PromiseRejectedResult).reason)).toContain('the connection is gone');
    } finally {
      connection.mockRestore();
    }
    expect(await ledger.repo.reserve(reservation('late1'))).toMatchObject({ status: 'admitted' });
  });
});
