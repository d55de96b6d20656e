/**
 * Races on one reservation, made deterministic with the repository's checkpoint hooks: one caller
 * is paused inside its transaction (after its first statement) while another resolves the same
 * reservation through its own connection, then resumed. Whatever the order, a reservation resolves
 * once, `reserved` stays exact and nothing goes negative; consumption is never booked as $0.
 * PostgreSQL only: SQLite's BEGIN IMMEDIATE serialises whole transactions, so they cannot overlap.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { BudgetPolicy } from '../../src/domain/budget';
import { costMicroUsd } from '../../src/domain/pricing';
import {
  createLedgerRepository,
  settledAfterExpiry,
  type LedgerConnection,
  type LedgerRepository,
  type ReserveRequest,
} from '../../src/ledger';
import { testPolicy, testPrice } from './support/fixtures';
import { ledgerDialects, openTestLedger, type TestLedger } from '../support/ledger';

const price = testPrice;
const policy = testPolicy;
const scope = { tenantId: 'acme', principalId: 'acme/svc', modelId: 'sim-standard' };
const now = new Date('2026-11-27T12:00:00Z');
const afterExpiry = new Date('2026-11-27T14:00:00Z');
const usage = { inputTokens: 100, outputTokens: 20 }; // 450 µUSD of a 750 µUSD hold

function reservation(id: string, overrides: Partial<ReserveRequest> = {}): ReserveRequest {
  return {
    reservationId: id,
    runId: `run-${id}`,
    scope,
    inputTokens: 100,
    maxOutputTokens: 50,
    price,
    catalogVersion: 'test',
    expiresAt: new Date('2026-11-27T13:00:00Z'),
    ...overrides,
  };
}

/** A repository on its own connection that stops at the first checkpoint matching `pauseAt` until released. */
function pausable(ledger: TestLedger, pauseAt: (point: string) => boolean, clock: () => Date) {
  let reached!: () => void;
  let release!: () => void;
  const reachedPause = new Promise<void>((resolve) => (reached = resolve));
  const resume = new Promise<void>((resolve) => (release = resolve));
  let paused = false;
  const connection: LedgerConnection = ledger.store.connect(2);
  const repo = createLedgerRepository({
    connection,
    clock,
    checkpoint: async (point) => {
      if (paused || !pauseAt(point)) return;
      paused = true;
      reached();
      await resume;
    },
  });
  return { repo, reachedPause, release, close: () => connection.close() };
}

const onlyPostgres = ledgerDialects().filter((d) => d === 'postgres');
const describePostgres = onlyPostgres.length > 0 ? describe : describe.skip;

describePostgres('races on one reservation (PostgreSQL, two connections)', () => {
  let ledger: TestLedger;
  let clock: Date;
  let other: LedgerRepository;
  let otherConnection: LedgerConnection;

  beforeEach(async () => {
    clock = now;
    ledger = await openTestLedger('postgres', { clock: () => clock });
    otherConnection = ledger.store.connect(4);
    other = createLedgerRepository({ connection: otherConnection, clock: () => clock });
    await ledger.repo.putPolicy(policy({ policyId: 'acme-day', hardLimit: 1_000 }));
    await ledger.repo.putPolicy(policy({ policyId: 'acme-tokens', metric: 'tokens', window: 'month', hardLimit: 400 }));
  });
  afterEach(async () => {
    expect(await ledger.invariants(clock)).toEqual([]);
    await otherConnection.close();
    await ledger.close();
  });

  const windows = async () =>
    (await ledger.repo.usageReport(now)).map(({ policyId, spent, reserved }) => ({ policyId, spent, reserved }));
  const usageRecords = (reservationId: string) =>
    ledger.connection.db.selectFrom('usage_records').selectAll().where('reservation_id', '=', reservationId).execute();

  it('a settle paused inside its transaction while the sweeper expires the hold: settled once, reserved exact', async () => {
    await ledger.repo.reserve(reservation('r1'));
    clock = afterExpiry; // the hold is due, and the run is settling it just now
    const settling = pausable(
      ledger,
      (p) => p.startsWith('settle:'),
      () => clock,
    );
    try {
      const settle = settling.repo.settle({ reservationId: 'r1', actual: usage });
      await settling.reachedPause;
      const sweep = other.expireDue(clock);
      await delay(300); // the sweep now waits for the settle's lock (or, without one, runs through)
      settling.release();
      const [settled, expired] = await Promise.all([settle, sweep]);

      expect(settled).toMatchObject({ status: 'settled', costMicroUsd: 450, tokens: 120 });
      expect(expired).toEqual([]);
      expect(await windows()).toEqual([
        { policyId: 'acme-day', spent: 450, reserved: 0 },
        { policyId: 'acme-tokens', spent: 120, reserved: 0 },
      ]);
      expect(await usageRecords('r1')).toHaveLength(2);
    } finally {
      await settling.close();
    }
  });

  it('the sweeper paused inside its expiry while the run settles late: the usage is booked after expiry, never $0', async () => {
    await ledger.repo.reserve(reservation('r1'));
    clock = afterExpiry;
    const sweeping = pausable(
      ledger,
      (p) => p.startsWith('expired:'),
      () => clock,
    );
    try {
      const sweep = sweeping.repo.expireDue(clock);
      await sweeping.reachedPause;
      const settle = other.settle({ reservationId: 'r1', actual: usage });
      await delay(300);
      sweeping.release();
      const [expired, settled] = await Promise.all([sweep, settle]);

      expect(expired).toEqual(['r1']);
      expect(settled).toEqual({
        status: 'settled',
        reservationId: 'r1',
        costMicroUsd: 450,
        tokens: 120,
        overage: true,
        afterExpiry: true,
      });
      expect(await windows()).toEqual([
        { policyId: 'acme-day', spent: 450, reserved: 0 },
        { policyId: 'acme-tokens', spent: 120, reserved: 0 },
      ]);
      const overage = await ledger.connection.db
        .selectFrom('overages')
        .selectAll()
        .where('reservation_id', '=', 'r1')
        .executeTakeFirstOrThrow();
      expect(overage).toMatchObject({ reason: settledAfterExpiry, excess_micro_usd: 450, excess_tokens: 120 });
    } finally {
      await sweeping.close();
    }
  });

  it('a release paused inside its transaction while the sweeper expires the hold: released once', async () => {
    await ledger.repo.reserve(reservation('r1'));
    clock = afterExpiry;
    const releasing = pausable(
      ledger,
      (p) => p.startsWith('released:'),
      () => clock,
    );
    try {
      const release = releasing.repo.release('r1');
      await releasing.reachedPause;
      const sweep = other.expireDue(clock);
      await delay(300);
      releasing.release();
      const [released, expired] = await Promise.all([release, sweep]);
      expect(released).toEqual({ status: 'released', reservationId: 'r1' });
      expect(expired).toEqual([]);
      expect(await windows()).toEqual([
        { policyId: 'acme-day', spent: 0, reserved: 0 },
        { policyId: 'acme-tokens', spent: 0, reserved: 0 },
      ]);
    } finally {
      await releasing.close();
    }
  });

  it('a retried settle beside its first attempt, paused at its first checkpoint: one booking, the same outcome', async () => {
    await ledger.repo.reserve(reservation('r1'));
    const first = pausable(
      ledger,
      (p) => p.startsWith('settle:'),
      () => clock,
    );
    try {
      const firstSettle = first.repo.settle({ reservationId: 'r1', actual: usage });
      await first.reachedPause;
      const retry = other.settle({ reservationId: 'r1', actual: usage });
      await delay(300);
      first.release();
      const [a, b] = await Promise.all([firstSettle, retry]);
      expect(a).toEqual(b);
      expect(a).toMatchObject({ status: 'settled', costMicroUsd: 450 });
      expect(await windows()).toEqual([
        { policyId: 'acme-day', spent: 450, reserved: 0 },
        { policyId: 'acme-tokens', spent: 120, reserved: 0 },
      ]);
      expect(await usageRecords('r1')).toHaveLength(2);
    } finally {
      await first.close();
    }
  });

  it('a retried settle over its hold beside its first attempt, still inside its (locked) transaction: one booking, the same outcome', async () => {
    const over = { inputTokens: 100, outputTokens: 60 }; // 850 µUSD of a 750 µUSD hold: the locked path
    await ledger.repo.reserve(reservation('r1'));
    const first = pausable(
      ledger,
      (p) => p === 'settle:reservation-claimed',
      () => clock,
    );
    try {
      const firstSettle = first.repo.settle({ reservationId: 'r1', actual: over });
      await first.reachedPause;
      const retry = other.settle({ reservationId: 'r1', actual: over });
      await delay(300);
      first.release();
      const [a, b] = await Promise.all([firstSettle, retry]);
      expect(a).toEqual(b);
      expect(a).toMatchObject({ status: 'settled', costMicroUsd: 850, overage: true });
      expect(await windows()).toEqual([
        { policyId: 'acme-day', spent: 850, reserved: 0 },
        { policyId: 'acme-tokens', spent: 160, reserved: 0 },
      ]);
      expect(await usageRecords('r1')).toHaveLength(2);
    } finally {
      await first.close();
    }
  });

  it('two sweepers over the same due holds (the API’s and the worker’s): each hold expires once', async () => {
    for (const id of ['r1', 'r2', 'r3']) await ledger.repo.reserve(reservation(id, { maxOutputTokens: 10 }));
    clock = afterExpiry;
    const firstSweeper = pausable(
      ledger,
      (p) => p.startsWith('expired:'),
      () => clock,
    );
    try {
      const firstSweep = firstSweeper.repo.expireDue(clock);
      await firstSweeper.reachedPause;
      const secondSweep = other.expireDue(clock);
      await delay(300);
      firstSweeper.release();
      const [a, b] = await Promise.all([firstSweep, secondSweep]);
      expect([...a, ...b].sort()).toEqual(['r1', 'r2', 'r3']);
      expect(await windows()).toEqual([
        { policyId: 'acme-day', spent: 0, reserved: 0 },
        { policyId: 'acme-tokens', spent: 0, reserved: 0 },
      ]);
    } finally {
      await firstSweeper.close();
    }
  });

  it('a top-up paused inside its transaction while the sweeper looks at the hold: the renewed hold is not expired', async () => {
    await ledger.repo.reserve(reservation('r1', { expiresAt: new Date('2026-11-27T12:00:01Z') }));
    clock = new Date('2026-11-27T12:00:02Z');
    const renewing = pausable(
      ledger,
      (p) => p.startsWith('renew:'),
      () => clock,
    );
    try {
      const renew = renewing.repo.renewHold({
        reservationId: 'r1',
        expiresAt: new Date('2026-11-27T12:30:00Z'),
        cover: { inputTokens: 110, outputTokens: 60 },
      });
      await renewing.reachedPause;
      const sweep = other.expireDue(clock);
      await delay(300);
      renewing.release();
      const [renewed, expired] = await Promise.all([renew, sweep]);
      expect(renewed).toMatchObject({ status: 'held', toppedUp: true, amountMicroUsd: 875, tokens: 170 });
      expect(expired).toEqual([]);
      expect(await ledger.repo.getReservation('r1')).toMatchObject({ state: 'pending', expiresAt: '2026-11-27T12:30:00.000Z' });
      expect(await windows()).toEqual([
        { policyId: 'acme-day', spent: 0, reserved: 875 },
        { policyId: 'acme-tokens', spent: 0, reserved: 170 },
      ]);
      await ledger.repo.release('r1');
    } finally {
      await renewing.close();
    }
  });
});

describe.each(ledgerDialects())('holds topped up for retries on %s', (dialect) => {
  let ledger: TestLedger;
  beforeEach(async () => {
    ledger = await openTestLedger(dialect, { clock: () => now });
  });
  afterEach(async () => {
    expect(await ledger.invariants(now)).toEqual([]);
    await ledger.close();
  });

  it('tops a hold up within the hard limit and refuses, changing nothing, when the retry would pass it', async () => {
    await ledger.repo.putPolicy(policy({ policyId: 'acme-day', hardLimit: 2_000 }));
    await ledger.repo.reserve(reservation('r1')); // 750
    const secondAttempt = await ledger.repo.renewHold({
      reservationId: 'r1',
      expiresAt: new Date('2026-11-27T13:30:00Z'),
      cover: { inputTokens: 200, outputTokens: 75 }, // a first attempt of 100 + 25 billed, then 100 + 50
    });
    expect(secondAttempt).toMatchObject({ status: 'held', toppedUp: true, amountMicroUsd: 1_250 });
    const thirdAttempt = await ledger.repo.renewHold({
      reservationId: 'r1',
      expiresAt: new Date('2026-11-27T13:30:00Z'),
      cover: { inputTokens: 300, outputTokens: 150 },
    });
    expect(thirdAttempt).toMatchObject({
      status: 'refused',
      refusal: { policyId: 'acme-day', spent: 0, reserved: 1_250, limit: 2_000, requested: 1_000 },
    });
    expect(thirdAttempt.status === 'refused' && thirdAttempt.refusal.message).toMatch(
      /budget policy 'acme-day' \(day 2026-11-27\) refuses another provider attempt: spent 0 \+ reserved 1250 \+ 1000 µUSD/,
    );
    expect(await ledger.repo.getReservation('r1')).toMatchObject({
      amountMicroUsd: 1_250,
      expiresAt: '2026-11-27T13:30:00.000Z',
    });
    // Repeating a top-up to the same total books nothing more.
    expect(
      await ledger.repo.renewHold({
        reservationId: 'r1',
        expiresAt: new Date('2026-11-27T13:00:00Z'),
        cover: { inputTokens: 200, outputTokens: 75 },
      }),
    ).toMatchObject({ status: 'held', toppedUp: false, amountMicroUsd: 1_250, expiresAt: '2026-11-27T13:30:00.000Z' });
    const settled = await ledger.repo.settle({ reservationId: 'r1', actual: { inputTokens: 200, outputTokens: 45 } });
    expect(settled).toMatchObject({
      status: 'settled',
      costMicroUsd: costMicroUsd(price, { inputTokens: 200, outputTokens: 45 }),
    });
    expect((await ledger.repo.usageReport(now))[0]).toMatchObject({ spent: 950, reserved: 0 });
  });

  it('says a hold is no longer pending instead of renewing it', async () => {
    await ledger.repo.putPolicy(policy({ policyId: 'acme-day' }));
    await ledger.repo.reserve(reservation('r1'));
    await ledger.repo.release('r1');
    expect(await ledger.repo.renewHold({ reservationId: 'r1', expiresAt: new Date('2026-11-28T00:00:00Z') })).toEqual({
      status: 'not_pending',
      reservationId: 'r1',
      state: 'released',
    });
  });
});

describePostgres('many windows under concurrency (PostgreSQL)', () => {
  it('reserves, tops up, settles, releases and expires across day, month, tenant, principal and model windows without a deadlock reaching a caller', async () => {
    let clock = now;
    const ledger = await openTestLedger('postgres', { clock: () => clock });
    const connections = [0, 1, 2].map(() => ledger.store.connect(6));
    const repos = connections.map((connection) => createLedgerRepository({ connection, clock: () => clock }));
    try {
      // Ids whose order differs between byte order and natural-language collations.
      const policies: BudgetPolicy[] = [
        policy({ policyId: 'a-tenant-day', hardLimit: 40_000 }),
        policy({ policyId: 'B-tenant-month', window: 'month', hardLimit: 60_000 }),
        policy({ policyId: '_principal', scope: { kind: 'principal', id: 'acme/svc' }, hardLimit: 30_000 }),
        policy({ policyId: 'Z-model', scope: { kind: 'model', id: 'sim-standard' }, metric: 'tokens', hardLimit: 9_000 }),
        policy({ policyId: 'global-total', scope: { kind: 'global' }, window: 'total', hardLimit: 50_000 }),
      ];
      for (const p of policies) await ledger.repo.putPolicy(p);
      const scopes = [scope, { ...scope, principalId: 'acme/other' }, { ...scope, modelId: 'sim-small' }];

      const errors: unknown[] = [];
      const work = Array.from({ length: 90 }, async (_, i) => {
        const repo = repos[i % repos.length] as LedgerRepository;
        const id = `c${i}`;
        try {
          const outcome = await repo.reserve(
            reservation(id, {
              scope: scopes[i % scopes.length] as typeof scope,
              maxOutputTokens: 40 + (i % 7) * 10,
              expiresAt: new Date(now.getTime() + (i % 5 === 0 ? 1_000 : 3_600_000)),
            }),
          );
          if (outcome.status !== 'admitted') return;
          if (i % 4 === 0) {
            await repo.renewHold({
              reservationId: id,
              expiresAt: new Date(now.getTime() + 3_600_000),
              cover: { inputTokens: 200, outputTokens: outcome.maxOutputTokens + 10 },
            });
          }
          if (i % 3 === 0) await repo.release(id);
          else if (i % 3 === 1) await repo.settle({ reservationId: id, actual: { inputTokens: 100, outputTokens: 15 } });
          else if (i % 5 === 0) await repo.expireDue(new Date(now.getTime() + 2_000));
        } catch (error) {
          errors.push(error);
        }
      });
      await Promise.all(work);
      expect(errors).toEqual([]);
      clock = new Date(now.getTime() + 7_200_000);
      await ledger.repo.expireDue(clock);
      for (const r of await ledger.connection.db
        .selectFrom('reservations')
        .select('reservation_id')
        .where('state', '=', 'pending')
        .execute()) {
        await ledger.repo.release(r.reservation_id);
      }
      expect(await ledger.invariants(clock)).toEqual([]);
    } finally {
      await Promise.all(connections.map((c) => c.close()));
      await ledger.close();
    }
  }, 60_000);
});
