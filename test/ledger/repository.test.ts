import { costMicroUsd } from '../../src/domain/pricing';
import { LedgerConflictError, type ReserveRequest } from '../../src/ledger';
import { testPolicy, testPrice } from './support/fixtures';
import { ledgerDialects, openTestLedger, type TestLedger } from '../support/ledger';

const price = testPrice;
const policy = testPolicy;
const scope = { tenantId: 'acme', principalId: 'svc', modelId: 'sim-standard' };

let sequence = 0;
function reservation(overrides: Partial<ReserveRequest> = {}): ReserveRequest {
  sequence += 1;
  return {
    reservationId: `res-${sequence}`,
    runId: `run-${sequence}`,
    scope,
    inputTokens: 100,
    maxOutputTokens: 50,
    price,
    catalogVersion: 'test-catalog-1',
    expiresAt: new Date('2026-11-27T13:00:00Z'),
    ...overrides,
  };
}

describe.each(ledgerDialects())('ledger on %s', (dialect) => {
  let now: Date;
  let ledger: TestLedger;
  const checkpoints: string[] = [];
  let failAt: string | undefined;

  beforeEach(async () => {
    now = new Date('2026-11-27T12:00:00Z');
    checkpoints.length = 0;
    failAt = undefined;
    ledger = await openTestLedger(dialect, {
      clock: () => now,
      checkpoint: (point) => {
        checkpoints.push(point);
        if (point === failAt) throw new Error(`injected crash at ${point}`);
      },
    });
  });
  afterEach(async () => {
    expect(await ledger.invariants(now)).toEqual([]);
    await ledger.close();
  });

  describe('policies', () => {
    it('creates, updates, lists and deletes API policies', async () => {
      const created = await ledger.repo.putPolicy(policy({ policyId: 'acme-daily', softLimit: 800 }));
      expect(created.created).toBe(true);
      expect(created.policy).toMatchObject({ policyId: 'acme-daily', source: 'api', softLimit: 800, hardLimit: 1_000 });
      const updated = await ledger.repo.putPolicy(policy({ policyId: 'acme-daily', hardLimit: 2_000 }));
      expect(updated.created).toBe(false);
      expect((await ledger.repo.getPolicy('acme-daily'))?.hardLimit).toBe(2_000);
      expect((await ledger.repo.listPolicies()).map((p) => p.policyId)).toEqual(['acme-daily']);
      expect(await ledger.repo.deletePolicy('acme-daily')).toBe(true);
      expect(await ledger.repo.deletePolicy('acme-daily')).toBe(false);
    });

    it('marks config policies as such and refuses to change them through the API', async () => {
      await ledger.repo.syncConfigPolicies([policy({ policyId: 'from-config' })]);
      expect((await ledger.repo.getPolicy('from-config'))?.source).toBe('config');
      await expect(ledger.repo.putPolicy(policy({ policyId: 'from-config', hardLimit: 5 }))).rejects.toThrow(LedgerConflictError);
      await expect(ledger.repo.deletePolicy('from-config')).rejects.toThrow(/declared in the config file/);
      await ledger.repo.syncConfigPolicies([]);
      expect(await ledger.repo.getPolicy('from-config')).toBeUndefined();
    });
  });

  describe('policy generations', () => {
    /** A policy's window rows as [key, spent, reserved], in byte order of the key (whatever the database's collation). */
    const windowRows = async (policyId: string) =>
      (await ledger.connection.db.selectFrom('policy_windows').selectAll().where('policy_id', '=', policyId).execute())
        .map((w) => [w.period_key, w.spent, w.reserved] as const)
        .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

    it('tops up and settles an old-generation hold in its own unit: no new-limit refusal, no alert against the new policy', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'p', hardLimit: 10_000 }));
      const pending = reservation(); // 750 µUSD
      await ledger.repo.reserve(pending);
      await ledger.repo.putPolicy(policy({ policyId: 'p', metric: 'tokens', hardLimit: 1_000 }));
      // 1 250 µUSD would read as passing a 1 000-token limit if judged against the new policy.
      expect(
        await ledger.repo.renewHold({
          reservationId: pending.reservationId,
          expiresAt: new Date('2026-11-27T14:00:00Z'),
          cover: { inputTokens: 100, outputTokens: 100 },
        }),
      ).toMatchObject({ status: 'held', toppedUp: true, amountMicroUsd: 1_250 });
      await ledger.repo.settle({ reservationId: pending.reservationId, actual: { inputTokens: 100, outputTokens: 100 } });
      expect(await ledger.connection.db.selectFrom('budget_alerts').selectAll().execute()).toEqual([]);
      expect(await windowRows('p')).toEqual([['2026-11-27', 1_250, 0]]);
    });

    it('starts a fresh window when the metric changes (cost → tokens), while a pending cost hold settles into the old cost window', async () => {
      expect((await ledger.repo.putPolicy(policy({ policyId: 'p', hardLimit: 10_000 }))).policy.generation).toBe(1);
      const spent = reservation();
      await ledger.repo.reserve(spent);
      await ledger.repo.settle({ reservationId: spent.reservationId, actual: { inputTokens: 100, outputTokens: 20 } }); // 450 µUSD
      const pending = reservation(); // 750 µUSD held in the cost window
      expect(await ledger.repo.reserve(pending)).toMatchObject({ status: 'admitted', amountMicroUsd: 750 });

      const changed = await ledger.repo.putPolicy(policy({ policyId: 'p', metric: 'tokens', hardLimit: 500 }));
      expect(changed.policy).toMatchObject({ metric: 'tokens', generation: 2 });
      expect(await ledger.repo.getPolicy('p')).toMatchObject({ metric: 'tokens', generation: 2 });
      // The new tokens window starts at 0: the 450 + 750 µUSD are not read as 1 200 tokens.
      expect((await ledger.repo.usageReport(now))[0]).toMatchObject({
        policyId: 'p',
        metric: 'tokens',
        periodKey: '2026-11-27#g2',
        spent: 0,
        reserved: 0,
        limit: 500,
        status: 'ok',
      });
      const [evaluation] = await ledger.repo.evaluateRequest({ scope, costMicroUsd: 750, tokens: 150 }, now);
      expect(evaluation).toMatchObject({ periodKey: '2026-11-27#g2', consumed: 0, reserved: 0, requested: 150, status: 'ok' });
      const fresh = reservation(); // 150 tokens: fits the 500-token limit in full
      expect(await ledger.repo.reserve(fresh)).toMatchObject({ status: 'admitted', tokens: 150, clamped: false });

      // The pending hold settles where it was made, in µUSD.
      expect(
        await ledger.repo.settle({ reservationId: pending.reservationId, actual: { inputTokens: 100, outputTokens: 20 } }),
      ).toMatchObject({ status: 'settled', costMicroUsd: 450, overage: false });
      expect(await windowRows('p')).toEqual([
        ['2026-11-27', 900, 0],
        ['2026-11-27#g2', 0, 150],
      ]);
      const records = await ledger.connection.db
        .selectFrom('usage_records')
        .select(['reservation_id', 'period_key', 'metric', 'amount'])
        .where('reservation_id', '=', pending.reservationId)
        .execute();
      expect(records).toEqual([{ reservation_id: pending.reservationId, period_key: '2026-11-27', metric: 'cost', amount: 450 }]);
      await ledger.repo.settle({ reservationId: fresh.reservationId, actual: { inputTokens: 100, outputTokens: 20 } });
      expect((await ledger.repo.usageReport(now))[0]).toMatchObject({ periodKey: '2026-11-27#g2', spent: 120, reserved: 0 });
      expect(await windowRows('p')).toEqual([
        ['2026-11-27', 900, 0],
        ['2026-11-27#g2', 120, 0],
      ]);
      // afterEach: the invariants judge the old 900 µUSD window against no limit, not against 500 tokens.
    });

    it('starts a fresh window when the scope changes, while a pending hold releases from its old window', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'p', hardLimit: 1_000 }));
      const old = reservation();
      expect(await ledger.repo.reserve(old)).toMatchObject({ status: 'admitted', amountMicroUsd: 750 });

      // Same request still applies (acme/svc is in acme), but the policy now covers one principal.
      const changed = await ledger.repo.putPolicy(
        policy({ policyId: 'p', scope: { kind: 'principal', id: 'acme/svc' }, hardLimit: 1_000 }),
      );
      expect(changed.policy.generation).toBe(2);
      expect((await ledger.repo.usageReport(now))[0]).toMatchObject({
        scope: { kind: 'principal', id: 'acme/svc' },
        periodKey: '2026-11-27#g2',
        spent: 0,
        reserved: 0,
      });
      // The tenant-wide hold of 750 does not count against the principal's fresh 1 000.
      const fresh = reservation();
      expect(await ledger.repo.reserve(fresh)).toMatchObject({ status: 'admitted', amountMicroUsd: 750, clamped: false });

      expect(
        await ledger.repo.settle({ reservationId: old.reservationId, actual: { inputTokens: 100, outputTokens: 20 } }),
      ).toMatchObject({ status: 'settled', costMicroUsd: 450 });
      expect(await windowRows('p')).toEqual([
        ['2026-11-27', 450, 0],
        ['2026-11-27#g2', 0, 750],
      ]);
      expect((await ledger.repo.usageReport(now))[0]).toMatchObject({ periodKey: '2026-11-27#g2', spent: 0, reserved: 750 });
      // A scope id change alone (same kind) is a new scope too.
      const again = await ledger.repo.putPolicy(
        policy({ policyId: 'p', scope: { kind: 'principal', id: 'acme/other' }, hardLimit: 1_000 }),
      );
      expect(again.policy.generation).toBe(3);
      expect(await ledger.repo.release(fresh.reservationId)).toEqual({ status: 'released', reservationId: fresh.reservationId });
      expect(await windowRows('p')).toEqual([
        ['2026-11-27', 450, 0],
        ['2026-11-27#g2', 0, 0],
      ]);
    });

    it('keeps the windows (and what they hold) when only limits, soft limit, action or enabled change', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'p', hardLimit: 10_000, softLimit: 8_000 }));
      const spent = reservation();
      await ledger.repo.reserve(spent);
      await ledger.repo.settle({ reservationId: spent.reservationId, actual: { inputTokens: 100, outputTokens: 20 } });
      const pending = reservation();
      await ledger.repo.reserve(pending);

      for (const change of [
        policy({ policyId: 'p', hardLimit: 2_000 }),
        policy({ policyId: 'p', hardLimit: 2_000, softLimit: 1_000, action: 'approval_required' }),
        policy({ policyId: 'p', hardLimit: 3_000, action: 'downgrade', enabled: false }),
        policy({ policyId: 'p', hardLimit: 3_000, action: 'downgrade' }),
      ]) {
        expect((await ledger.repo.putPolicy(change)).policy.generation).toBe(1);
        expect((await ledger.repo.usageReport(now))[0]).toMatchObject({ periodKey: '2026-11-27', spent: 450, reserved: 750 });
      }
      // Admission still reads the same window: 450 + 750 + 750 ≤ 3 000.
      expect(await ledger.repo.reserve(reservation())).toMatchObject({ status: 'admitted', clamped: false });
      expect((await ledger.repo.usageReport(now))[0]).toMatchObject({ spent: 450, reserved: 1_500, limit: 3_000 });
      expect(await windowRows('p')).toEqual([['2026-11-27', 450, 1_500]]);
      for (const r of await ledger.connection.db
        .selectFrom('reservations')
        .select('reservation_id')
        .where('state', '=', 'pending')
        .execute())
        await ledger.repo.release(r.reservation_id);
    });

    it('bumps the generation for a window change, for config policies and for an id re-created after a delete', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'api', hardLimit: 10_000 }));
      const inDay = reservation();
      await ledger.repo.reserve(inDay);
      // day → month: a new period kind is a new generation as well.
      const monthly = await ledger.repo.putPolicy(policy({ policyId: 'api', window: 'month', hardLimit: 10_000 }));
      expect(monthly.policy.generation).toBe(2);
      expect((await ledger.repo.usageReport(now))[0]).toMatchObject({ periodKey: '2026-11#g2', spent: 0, reserved: 0 });
      const inMonth = reservation();
      await ledger.repo.reserve(inMonth);

      // Deleted while holds are pending in its windows, then created again under the same id (now
      // in tokens): the deleted policy's windows are not reused, whatever the new definition.
      expect(await ledger.repo.deletePolicy('api')).toBe(true);
      const recreated = await ledger.repo.putPolicy(policy({ policyId: 'api', metric: 'tokens', hardLimit: 200 }));
      expect(recreated).toMatchObject({ created: true, policy: { generation: 3 } });
      const inTokens = reservation();
      expect(await ledger.repo.reserve(inTokens)).toMatchObject({ status: 'admitted', tokens: 150, clamped: false });
      await ledger.repo.settle({ reservationId: inDay.reservationId, actual: { inputTokens: 100, outputTokens: 20 } });
      await ledger.repo.release(inMonth.reservationId);
      expect(await windowRows('api')).toEqual([
        ['2026-11#g2', 0, 0],
        ['2026-11-27', 450, 0],
        ['2026-11-27#g3', 0, 150],
      ]);
      await ledger.repo.release(inTokens.reservationId);
      await ledger.repo.deletePolicy('api');

      // Config policies: the same rules on every start-up sync.
      await ledger.repo.syncConfigPolicies([policy({ policyId: 'cfg', hardLimit: 10_000 })]);
      const cfgCost = reservation();
      await ledger.repo.reserve(cfgCost);
      await ledger.repo.syncConfigPolicies([policy({ policyId: 'cfg', hardLimit: 20_000, softLimit: 100 })]);
      expect(await ledger.repo.getPolicy('cfg')).toMatchObject({ source: 'config', generation: 1 });
      await ledger.repo.syncConfigPolicies([policy({ policyId: 'cfg', metric: 'tokens', hardLimit: 200 })]);
      expect(await ledger.repo.getPolicy('cfg')).toMatchObject({ source: 'config', metric: 'tokens', generation: 2 });
      expect((await ledger.repo.usageReport(now)).find((u) => u.policyId === 'cfg')).toMatchObject({
        periodKey: '2026-11-27#g2',
        spent: 0,
        reserved: 0,
      });
      const cfgTokens = reservation();
      expect(await ledger.repo.reserve(cfgTokens)).toMatchObject({ status: 'admitted', tokens: 150, clamped: false });
      await ledger.repo.settle({ reservationId: cfgCost.reservationId, actual: { inputTokens: 100, outputTokens: 20 } });
      await ledger.repo.settle({ reservationId: cfgTokens.reservationId, actual: { inputTokens: 100, outputTokens: 20 } });
      expect(await windowRows('cfg')).toEqual([
        ['2026-11-27', 450, 0],
        ['2026-11-27#g2', 120, 0],
      ]);
    });
  });

  describe('reservations', () => {
    it('admits within every matching policy and books the hold in each window', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'tenant-cost', hardLimit: 10_000 }));
      await ledger.repo.putPolicy(
        policy({ policyId: 'global-tokens', scope: { kind: 'global' }, metric: 'tokens', hardLimit: 10_000 }),
      );
      await ledger.repo.putPolicy(policy({ policyId: 'other-tenant', scope: { kind: 'tenant', id: 'globex' }, hardLimit: 1 }));

      const outcome = await ledger.repo.reserve(reservation());
      const upper = costMicroUsd(price, { inputTokens: 100, outputTokens: 50 });
      expect(upper).toBe(750);
      expect(outcome).toMatchObject({
        status: 'admitted',
        amountMicroUsd: 750,
        tokens: 150,
        maxOutputTokens: 50,
        clamped: false,
        catalogVersion: 'test-catalog-1',
      });

      const usage = await ledger.repo.usageReport(now);
      expect(usage.find((u) => u.policyId === 'tenant-cost')).toMatchObject({
        periodKey: '2026-11-27',
        spent: 0,
        reserved: 750,
        limit: 10_000,
      });
      expect(usage.find((u) => u.policyId === 'global-tokens')).toMatchObject({ periodKey: '2026-11-27', reserved: 150 });
      expect(usage.find((u) => u.policyId === 'other-tenant')).toMatchObject({ reserved: 0 });
    });

    it('refuses with an explanation naming policy, window and numbers', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'tiny', hardLimit: 200 }));
      const outcome = await ledger.repo.reserve(reservation());
      expect(outcome).toEqual({
        status: 'refused',
        reservationId: expect.any(String),
        refusal: {
          policyId: 'tiny',
          window: 'day',
          periodKey: '2026-11-27',
          metric: 'cost',
          action: 'block',
          spent: 0,
          reserved: 0,
          limit: 200,
          requested: 750,
          message:
            "budget policy 'tiny' (day 2026-11-27) refuses: spent 0 + reserved 0 + requested 750 µUSD exceeds the hard limit of 200 µUSD",
        },
      });
      expect((await ledger.repo.usageReport(now))[0]).toMatchObject({ reserved: 0, spent: 0 });
    });

    it('clamps maxOutputTokens to the headroom when the input and some output fit', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'tight', hardLimit: 500 }));
      const outcome = await ledger.repo.reserve(reservation());
      // 100 input tokens cost 250 µUSD; 25 output tokens at 10 µUSD fill the remaining 250.
      expect(outcome).toMatchObject({ status: 'admitted', maxOutputTokens: 25, clamped: true, amountMicroUsd: 500, tokens: 125 });
      expect(await ledger.repo.reserve(reservation({ minOutputTokens: 1 }))).toMatchObject({ status: 'refused' });
    });

    it('returns the first outcome for a repeated reserve and books nothing new', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'p', hardLimit: 10_000 }));
      const request = reservation();
      const first = await ledger.repo.reserve(request);
      const again = await ledger.repo.reserve({ ...request, maxOutputTokens: 5 });
      expect(again).toEqual(first);
      expect((await ledger.repo.usageReport(now))[0]?.reserved).toBe(750);
    });

    it('settles the actual cost once, releasing the rest; repeats return the first outcome', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'p', hardLimit: 10_000 }));
      const request = reservation();
      await ledger.repo.reserve(request);
      const settled = await ledger.repo.settle({
        reservationId: request.reservationId,
        actual: { inputTokens: 100, outputTokens: 20 },
      });
      expect(settled).toEqual({
        status: 'settled',
        reservationId: request.reservationId,
        costMicroUsd: 450,
        tokens: 120,
        overage: false,
      });
      expect(
        await ledger.repo.settle({ reservationId: request.reservationId, actual: { inputTokens: 999, outputTokens: 999 } }),
      ).toEqual(settled);
      expect(await ledger.repo.release(request.reservationId)).toEqual(settled);
      expect((await ledger.repo.usageReport(now))[0]).toMatchObject({ spent: 450, reserved: 0 });
      expect(await ledger.repo.getReservation(request.reservationId)).toMatchObject({
        state: 'settled',
        settledMicroUsd: 450,
        catalogVersion: 'test-catalog-1',
      });
    });

    it('records an explicit overage when usage exceeds the reservation', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'p', hardLimit: 10_000 }));
      const request = reservation();
      await ledger.repo.reserve(request);
      const settled = await ledger.repo.settle({
        reservationId: request.reservationId,
        actual: { inputTokens: 130, outputTokens: 50 },
        overageReason: 'prompt longer than estimated',
      });
      expect(settled).toMatchObject({ costMicroUsd: 825, overage: true });
      const overages = await ledger.connection.db.selectFrom('overages').selectAll().execute();
      expect(overages).toEqual([
        expect.objectContaining({ reserved_micro_usd: 750, settled_micro_usd: 825, reason: 'prompt longer than estimated' }),
      ]);
    });

    it('releases and expires unused holds, each at most once', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'p', hardLimit: 10_000 }));
      const released = reservation();
      const expiring = reservation({ expiresAt: new Date('2026-11-27T12:05:00Z') });
      const later = reservation({ expiresAt: new Date('2026-11-27T18:00:00Z') });
      for (const r of [released, expiring, later]) await ledger.repo.reserve(r);

      expect(await ledger.repo.release(released.reservationId)).toEqual({
        status: 'released',
        reservationId: released.reservationId,
      });
      expect(await ledger.repo.expireDue(new Date('2026-11-27T12:04:59Z'))).toEqual([]);
      now = new Date('2026-11-27T12:06:00Z');
      expect(await ledger.repo.expireDue(now)).toEqual([expiring.reservationId]);
      expect(await ledger.repo.expireDue(now)).toEqual([]);
      // Nothing consumed: a settle after expiry has nothing to book and returns the expiry.
      expect(
        await ledger.repo.settle({ reservationId: expiring.reservationId, actual: { inputTokens: 0, outputTokens: 0 } }),
      ).toEqual({ status: 'expired', reservationId: expiring.reservationId });
      expect((await ledger.repo.usageReport(now))[0]).toMatchObject({ spent: 0, reserved: 750 });
      await ledger.repo.release(later.reservationId);
      expect(await ledger.repo.release(later.reservationId)).toEqual({ status: 'released', reservationId: later.reservationId });
    });
  });

  describe('scopes and windows', () => {
    it('applies principal and model scopes only to their own requests', async () => {
      await ledger.repo.putPolicy(
        policy({ policyId: 'principal', scope: { kind: 'principal', id: 'acme/svc' }, hardLimit: 10_000 }),
      );
      await ledger.repo.putPolicy(policy({ policyId: 'model', scope: { kind: 'model', id: 'sim-premium' }, hardLimit: 1 }));
      await ledger.repo.putPolicy(policy({ policyId: 'disabled', scope: { kind: 'global' }, hardLimit: 1, enabled: false }));
      expect(await ledger.repo.reserve(reservation())).toMatchObject({ status: 'admitted' });
      expect(await ledger.repo.reserve(reservation({ scope: { ...scope, modelId: 'sim-premium' } }))).toMatchObject({
        status: 'refused',
        refusal: { policyId: 'model' },
      });
      const usage = await ledger.repo.usageReport(now);
      expect(usage.find((u) => u.policyId === 'principal')?.reserved).toBe(750);
      expect(usage.find((u) => u.policyId === 'model')?.reserved).toBe(0);
    });

    it('starts a new day at 00:00 UTC without any reset job', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'daily', hardLimit: 1_000 }));
      await ledger.repo.putPolicy(policy({ policyId: 'weekly', window: 'week', hardLimit: 1_600 }));
      now = new Date('2026-11-27T23:59:59.999Z');
      const first = reservation({ expiresAt: new Date('2026-11-28T01:00:00Z') });
      expect(await ledger.repo.reserve(first)).toMatchObject({ status: 'admitted' });
      expect(await ledger.repo.reserve(reservation())).toMatchObject({
        status: 'refused',
        refusal: { policyId: 'daily', periodKey: '2026-11-27' },
      });

      now = new Date('2026-11-28T00:00:00.000Z');
      expect(await ledger.repo.reserve(reservation({ expiresAt: new Date('2026-11-28T01:00:00Z') }))).toMatchObject({
        status: 'admitted',
      });
      // The weekly window (ISO week 48, Monday 23 Nov – Sunday 29 Nov) holds both.
      const usage = await ledger.repo.usageReport(now);
      expect(usage.find((u) => u.policyId === 'daily')).toMatchObject({ periodKey: '2026-11-28', reserved: 750 });
      expect(usage.find((u) => u.policyId === 'weekly')).toMatchObject({ periodKey: '2026-W48', reserved: 1_500 });
      // A hold settles into the window it was made in, even after midnight.
      await ledger.repo.settle({ reservationId: first.reservationId, actual: { inputTokens: 100, outputTokens: 10 } });
      const windows = await ledger.connection.db
        .selectFrom('policy_windows')
        .selectAll()
        .where('policy_id', '=', 'daily')
        .orderBy('period_key')
        .execute();
      expect(windows.map((w) => [w.period_key, w.spent, w.reserved])).toEqual([
        ['2026-11-27', 350, 0],
        ['2026-11-28', 0, 750],
      ]);
      for (const r of await ledger.connection.db
        .selectFrom('reservations')
        .select('reservation_id')
        .where('state', '=', 'pending')
        .execute()) {
        await ledger.repo.release(r.reservation_id);
      }
    });
  });

  describe('alerts', () => {
    it('records each of 80 %, 95 %, soft and hard once per window, with the numbers', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'p', hardLimit: 1_000, softLimit: 700 }));
      const a = reservation({ maxOutputTokens: 30 }); // 550 µUSD: 55 %
      await ledger.repo.reserve(a);
      expect((await ledger.repo.usageReport(now))[0]?.alerts).toEqual([]);
      const b = reservation({ inputTokens: 40, maxOutputTokens: 30 }); // +400 → 950: soft, 80 %, 95 %
      await ledger.repo.reserve(b);
      const alerts = (await ledger.repo.usageReport(now))[0]?.alerts ?? [];
      expect(alerts.map((x) => x.threshold).sort()).toEqual(['pct80', 'pct95', 'soft']);
      expect(alerts.find((x) => x.threshold === 'pct95')).toMatchObject({ committed: 950, limit: 1_000 });
      await ledger.repo.settle({ reservationId: b.reservationId, actual: { inputTokens: 40, outputTokens: 30 } });
      const c = reservation({ inputTokens: 20, maxOutputTokens: 0 }); // +50 → 1000: hard
      await ledger.repo.reserve(c);
      const final = (await ledger.repo.usageReport(now))[0];
      expect(final?.alerts.map((x) => x.threshold).sort()).toEqual(['hard', 'pct80', 'pct95', 'soft']);
      expect(final?.status).toBe('hard_limit');
      await ledger.repo.release(a.reservationId);
      await ledger.repo.release(c.reservationId);
    });
  });

  describe('approval overrides', () => {
    it('lets an approved reservation pass an approval_required policy and records why', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'needs-approval', hardLimit: 100, action: 'approval_required' }));
      const denied = await ledger.repo.reserve(reservation());
      expect(denied).toMatchObject({ status: 'refused', refusal: { action: 'approval_required' } });
      const approved = reservation({
        approvalOverride: { approvalId: 'appr-1', approvedBy: 'sre-alice', note: 'quarter close' },
      });
      expect(await ledger.repo.reserve(approved)).toMatchObject({ status: 'admitted', overriddenPolicyIds: ['needs-approval'] });
      const rows = await ledger.connection.db.selectFrom('approval_overrides').selectAll().execute();
      expect(rows).toEqual([
        expect.objectContaining({ approval_id: 'appr-1', approved_by: 'sre-alice', policy_ids: '["needs-approval"]' }),
      ]);
      await ledger.repo.settle({ reservationId: approved.reservationId, actual: { inputTokens: 100, outputTokens: 50 } });
    });
  });

  describe('crash points', () => {
    async function snapshot() {
      const db = ledger.connection.db;
      const tables = [
        'policy_windows',
        'reservations',
        'reservation_holds',
        'usage_records',
        'overages',
        'approval_overrides',
        'budget_alerts',
      ] as const;
      const entries = await Promise.all(tables.map(async (t) => [t, await db.selectFrom(t).selectAll().execute()] as const));
      return Object.fromEntries(entries);
    }

    it('leaves the ledger exactly as before when reserve or settle fails between any two statements', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'cost', hardLimit: 100_000, softLimit: 10 }));
      await ledger.repo.putPolicy(policy({ policyId: 'tokens', scope: { kind: 'global' }, metric: 'tokens', hardLimit: 10_000 }));

      // Learn the checkpoints of a full reserve and settle, then crash at each one in turn.
      const probe = reservation();
      await ledger.repo.reserve(probe);
      await ledger.repo.settle({ reservationId: probe.reservationId, actual: { inputTokens: 100, outputTokens: 60 } });
      const reservePoints = checkpoints.filter((p) => p.startsWith('reserve:'));
      const settlePoints = checkpoints.filter((p) => p.startsWith('settle:'));
      // PostgreSQL books a reservation that fits in one statement, so its one crash point is just
      // before it (the locked admission path's points are crashed in the next test: clamp, approval).
      if (dialect === 'postgres') expect(reservePoints).toEqual(['reserve:single-statement']);
      else expect(reservePoints.length).toBeGreaterThanOrEqual(4);
      // A settle over its hold takes the locked path on both stores.
      expect(settlePoints).toEqual(expect.arrayContaining(['settle:overage-recorded', 'settle:reservation-resolved']));

      for (const point of reservePoints) {
        const before = await snapshot();
        failAt = point;
        await expect(ledger.repo.reserve(reservation())).rejects.toThrow(`injected crash at ${point}`);
        failAt = undefined;
        expect(await snapshot()).toEqual(before);
      }

      const pending = reservation();
      await ledger.repo.reserve(pending);
      for (const point of settlePoints) {
        const before = await snapshot();
        failAt = point;
        await expect(
          ledger.repo.settle({ reservationId: pending.reservationId, actual: { inputTokens: 100, outputTokens: 60 } }),
        ).rejects.toThrow(point);
        failAt = undefined;
        expect(await snapshot()).toEqual(before);
      }
      // After all those crashes the reservation still settles, once.
      expect(
        await ledger.repo.settle({ reservationId: pending.reservationId, actual: { inputTokens: 100, outputTokens: 60 } }),
      ).toMatchObject({
        status: 'settled',
        overage: true,
      });

      // A settle within its hold: one statement on PostgreSQL, the locked path on SQLite.
      const within = reservation();
      await ledger.repo.reserve(within);
      const settleWithin = () =>
        ledger.repo.settle({ reservationId: within.reservationId, actual: { inputTokens: 100, outputTokens: 20 } });
      const probeWithin = reservation();
      await ledger.repo.reserve(probeWithin);
      checkpoints.length = 0;
      await ledger.repo.settle({ reservationId: probeWithin.reservationId, actual: { inputTokens: 100, outputTokens: 20 } });
      const withinPoints = checkpoints.filter((p) => p.startsWith('settle:'));
      if (dialect === 'postgres') expect(withinPoints).toEqual(['settle:single-statement']);
      else expect(withinPoints.length).toBeGreaterThanOrEqual(3);
      for (const point of withinPoints) {
        const before = await snapshot();
        failAt = point;
        await expect(settleWithin()).rejects.toThrow(`injected crash at ${point}`);
        failAt = undefined;
        expect(await snapshot()).toEqual(before);
      }
      expect(await settleWithin()).toMatchObject({ status: 'settled', costMicroUsd: 450, overage: false });
    });

    it('leaves the ledger as before when a clamp, an approval, a release, an expiry, a late settle or a top-up fails between two statements', async () => {
      await ledger.repo.putPolicy(policy({ policyId: 'cost', hardLimit: 20_000, softLimit: 10 }));
      await ledger.repo.putPolicy(
        policy({ policyId: 'tokens', scope: { kind: 'global' }, metric: 'tokens', hardLimit: 100_000 }),
      );
      await ledger.repo.putPolicy(
        policy({
          policyId: 'needs-approval',
          scope: { kind: 'principal', id: 'approved' },
          hardLimit: 0,
          action: 'approval_required',
        }),
      );
      const due = new Date('2026-11-27T11:00:00Z');
      const held = async (overrides: Partial<ReserveRequest> = {}) => {
        const request = reservation(overrides);
        expect(await ledger.repo.reserve(request)).toMatchObject({ status: 'admitted' });
        return request.reservationId;
      };
      const expiryFailures: string[] = [];
      const releasePending = async () => {
        const pending = await ledger.connection.db
          .selectFrom('reservations')
          .select('reservation_id')
          .where('state', '=', 'pending')
          .execute();
        for (const r of pending) await ledger.repo.release(r.reservation_id);
      };
      const paths: {
        name: string;
        prefix: string;
        prepare: () => Promise<string | undefined>;
        act: (id: string | undefined) => Promise<unknown>;
      }[] = [
        {
          name: 'a refusal',
          prefix: 'reserve:',
          prepare: async () => undefined,
          act: () => ledger.repo.reserve(reservation({ inputTokens: 10_000, maxOutputTokens: 5_000 })),
        },
        {
          name: 'a clamped admission',
          prefix: 'reserve:',
          prepare: async () => undefined,
          act: () => ledger.repo.reserve(reservation({ maxOutputTokens: 5_000 })),
        },
        {
          name: 'an approved admission',
          prefix: 'reserve:',
          prepare: async () => undefined,
          act: () =>
            ledger.repo.reserve(
              reservation({
                scope: { ...scope, principalId: 'approved' },
                approvalOverride: { approvalId: 'a1', approvedBy: 'sre' },
              }),
            ),
        },
        { name: 'a release', prefix: 'released:', prepare: () => held(), act: (id) => ledger.repo.release(id as string) },
        {
          name: 'an expiry',
          prefix: 'expired:',
          prepare: () => held({ expiresAt: due }),
          act: async () => {
            // The sweeper isolates a failing row: it reports it and goes on, so the crash shows up there.
            const failuresBefore = expiryFailures.length;
            const expired = await ledger.repo.expireDue(now, (id, error) => expiryFailures.push(`${id}: ${error.message}`));
            if (expiryFailures.length > failuresBefore) throw new Error(expiryFailures[expiryFailures.length - 1]);
            return expired;
          },
        },
        {
          name: 'a settle after expiry',
          prefix: 'settle:',
          prepare: async () => {
            const id = await held({ expiresAt: due });
            await ledger.repo.expireDue(now);
            return id;
          },
          act: (id) => ledger.repo.settle({ reservationId: id as string, actual: { inputTokens: 100, outputTokens: 20 } }),
        },
        {
          name: 'a top-up',
          prefix: 'renew:',
          prepare: () => held(),
          act: (id) =>
            ledger.repo.renewHold({
              reservationId: id as string,
              expiresAt: new Date('2026-11-27T14:00:00Z'),
              cover: { inputTokens: 200, outputTokens: 80 },
            }),
        },
      ];

      for (const path of paths) {
        // Learn the path's checkpoints, then crash at each one in turn.
        const learnOn = await path.prepare();
        checkpoints.length = 0;
        await path.act(learnOn);
        await releasePending();
        const points = checkpoints.filter((p) => p.startsWith(path.prefix));
        expect({ path: path.name, points: points.length }).toEqual({ path: path.name, points: expect.any(Number) });
        expect(points.length).toBeGreaterThanOrEqual(2);
        for (const point of points) {
          const id = await path.prepare();
          const before = await snapshot();
          failAt = point;
          await expect(path.act(id)).rejects.toThrow(`injected crash at ${point}`);
          failAt = undefined;
          expect({ path: path.name, point, tables: await snapshot() }).toEqual({ path: path.name, point, tables: before });
          await path.act(id); // and afterwards the same call goes through
          await releasePending();
        }
      }
      await releasePending();
    });
  });

  describe('price overrides', () => {
    it('stores overrides and bumps the pricing revision on every change', async () => {
      expect((await ledger.repo.listPriceOverrides()).revision).toBe(0);
      expect(await ledger.repo.putPriceOverride('sim-small', { inputMicroUsdPerMTok: 100, outputMicroUsdPerMTok: 200 })).toBe(1);
      expect(await ledger.repo.putPriceOverride('sim-small', { inputMicroUsdPerMTok: 150, outputMicroUsdPerMTok: 200 })).toBe(2);
      const { overrides, revision } = await ledger.repo.listPriceOverrides();
      expect(revision).toBe(2);
      expect(overrides.get('sim-small')).toEqual({ inputMicroUsdPerMTok: 150, outputMicroUsdPerMTok: 200 });
    });
  });
});
