import path from 'node:path';
import {
  createLedgerRepository,
  LedgerNotFoundError,
  type RemediationSlotClaim,
  type RemediationSlotRequest,
  type ReserveRequest,
} from '../../src/ledger';
import { ledgerDialects, openTestLedger, type TestLedger } from '../support/ledger';
import { jsonFromScriptProcess } from './support/script-process';
import { testPrice } from './support/fixtures';

const claimWorker = path.join(__dirname, 'support', 'claim-worker.ts');
const breaker = { consecutiveFailures: 3, openMs: 5 * 60_000 };
const minute = 60_000;

function claimsFromProcess(args: string[]): Promise<RemediationSlotClaim[]> {
  return jsonFromScriptProcess<RemediationSlotClaim[]>(claimWorker, args);
}

describe.each(ledgerDialects())('self-healing state on %s', (dialect) => {
  let now: Date;
  let ledger: TestLedger;

  beforeEach(async () => {
    now = new Date('2026-11-27T12:00:00Z');
    ledger = await openTestLedger(dialect, { clock: () => now });
  });
  afterEach(async () => {
    expect(await ledger.invariants(now)).toEqual([]);
    await ledger.close();
  });

  const advance = (ms: number) => {
    now = new Date(now.getTime() + ms);
  };
  let incident = 0;
  const slot = (overrides: Partial<RemediationSlotRequest> = {}): RemediationSlotRequest => ({
    incidentId: `incident-${(incident += 1)}`,
    remediationId: 'release_reservation',
    by: 'supervisor',
    maxPerMinute: 100,
    breaker,
    ...overrides,
  });
  /** Claims a slot that must be granted. */
  const grantedSlot = async (overrides: Partial<RemediationSlotRequest> = {}) => {
    const claim = await ledger.repo.claimRemediationSlot(slot(overrides));
    if (!claim.allowed) throw new Error(`expected a slot, got: ${claim.reason}`);
    return claim.slotId;
  };
  /** A second later, claims a slot and records its outcome at once. */
  const attempt = async (status: 'succeeded' | 'failed') => {
    advance(1_000);
    return ledger.repo.finishRemediation(await grantedSlot(), { status, detail: `it ${status}` });
  };

  describe('remediation throttle', () => {
    it('grants exactly maxPerMinute of 10 concurrent claims', async () => {
      const claims = await Promise.all(
        Array.from({ length: 10 }, () => ledger.repo.claimRemediationSlot(slot({ maxPerMinute: 4 }))),
      );
      expect(claims.filter((c) => c.allowed)).toHaveLength(4);
      for (const refused of claims.filter((c) => !c.allowed)) {
        expect(refused).toEqual({ allowed: false, reason: 'throttled: 4 remediations in the last minute (limit 4)' });
      }
      const log = await ledger.repo.recentRemediations({ limit: 64 });
      expect(log).toHaveLength(4);
      expect(log.every((entry) => entry.status === 'pending')).toBe(true);
    });

    it('grants exactly maxPerMinute of 10 claims racing from separate processes', async () => {
      // SQLite: two processes (one connection each; better-sqlite3 would block its own event loop
      // with a second). PostgreSQL: two processes and two more connections of this one.
      // Everyone claims at the same moment, once the processes have started and connected.
      const startAt = Date.now() + 3_000;
      const processes = [0, 1].map((p) =>
        claimsFromProcess([dialect, ledger.store.location, `proc${p}`, dialect === 'sqlite' ? '5' : '3', '4', String(startAt)]),
      );
      const connections = dialect === 'postgres' ? [0, 1].map(() => ledger.store.connect(2)) : [];
      await new Promise((resolve) => setTimeout(resolve, startAt - Date.now()));
      const local = connections.flatMap((connection) => {
        const repo = createLedgerRepository({ connection });
        return [0, 1].map(() => repo.claimRemediationSlot(slot({ maxPerMinute: 4 })));
      });
      const claims = [...(await Promise.all(processes)).flat(), ...(await Promise.all(local))];
      await Promise.all(connections.map((c) => c.close()));
      expect(claims).toHaveLength(10);
      expect(claims.filter((c) => c.allowed)).toHaveLength(4);
    }, 60_000);

    it('counts a slot from its claim for a minute, whatever its outcome', async () => {
      await grantedSlot({ maxPerMinute: 2 }); // left pending
      await ledger.repo.finishRemediation(await grantedSlot({ maxPerMinute: 2 }), { status: 'succeeded', detail: '' });
      expect(await ledger.repo.claimRemediationSlot(slot({ maxPerMinute: 2 }))).toMatchObject({
        allowed: false,
        reason: 'throttled: 2 remediations in the last minute (limit 2)',
      });
      advance(minute - 1);
      expect(await ledger.repo.claimRemediationSlot(slot({ maxPerMinute: 2 }))).toMatchObject({ allowed: false });
      advance(1);
      expect(await ledger.repo.claimRemediationSlot(slot({ maxPerMinute: 2 }))).toMatchObject({ allowed: true });
      expect(await ledger.repo.claimRemediationSlot(slot({ maxPerMinute: 2 }))).toMatchObject({ allowed: true });
      expect(await ledger.repo.claimRemediationSlot(slot({ maxPerMinute: 2 }))).toMatchObject({ allowed: false });
    });

    it('does not count skipped attempts, for the throttle or the breaker', async () => {
      for (let i = 0; i < 5; i++) {
        await ledger.repo.recordSkippedRemediation({
          incidentId: `skipped-${i}`,
          remediationId: 'cancel_run',
          by: 'supervisor',
          detail: 'the run ended before acting',
        });
      }
      await attempt('failed');
      await attempt('failed');
      await ledger.repo.recordSkippedRemediation({
        incidentId: 'x',
        remediationId: 'cancel_run',
        by: 'supervisor',
        detail: 'gone',
      });
      // Two failures and skips in between: the breaker needs a third failure, the throttle sees two.
      expect(await ledger.repo.claimRemediationSlot(slot({ maxPerMinute: 3 }))).toMatchObject({ allowed: true });
      expect(await ledger.repo.claimRemediationSlot(slot({ maxPerMinute: 3 }))).toMatchObject({ allowed: false });
    });

    it('records a skip once per slot id', async () => {
      const skip = { incidentId: 'i', remediationId: 'page', by: 'supervisor', detail: 'throttled', slotId: 'skip-1' } as const;
      await ledger.repo.recordSkippedRemediation(skip);
      const again = await ledger.repo.recordSkippedRemediation({ ...skip, detail: 'other' });
      expect(again).toMatchObject({ slotId: 'skip-1', status: 'skipped', detail: 'throttled', finishedAt: null });
      expect(await ledger.repo.remediationCounts()).toEqual([{ remediationId: 'page', status: 'skipped', count: 1 }]);
    });
  });

  describe('remediation circuit breaker', () => {
    it('opens after 3 consecutive failures, lets one trial through after openMs, and reopens if it fails', async () => {
      await attempt('failed');
      await attempt('succeeded');
      await attempt('failed');
      await attempt('failed');
      advance(1_000);
      const fourth = await grantedSlot(); // the success broke the streak
      advance(1_000);
      await ledger.repo.finishRemediation(fourth, { status: 'failed', detail: 'no' });
      const opened = now.getTime();

      expect(await ledger.repo.claimRemediationSlot(slot())).toEqual({
        allowed: false,
        reason: `circuit open: 3 consecutive failed remediations, closes at ${new Date(opened + breaker.openMs).toISOString()}`,
      });
      advance(breaker.openMs - 1);
      expect(await ledger.repo.claimRemediationSlot(slot())).toMatchObject({ allowed: false });

      advance(1);
      const trial = await grantedSlot();
      // One trial at a time while it is out.
      expect(await ledger.repo.claimRemediationSlot(slot())).toEqual({
        allowed: false,
        reason: `circuit half-open: a trial remediation has been in progress since ${now.toISOString()}`,
      });
      advance(1_000);
      await ledger.repo.finishRemediation(trial, { status: 'failed', detail: 'still broken' });
      expect(await ledger.repo.claimRemediationSlot(slot())).toMatchObject({
        allowed: false,
        reason: expect.stringContaining('circuit open'),
      });

      advance(breaker.openMs);
      await attempt('succeeded');
      expect(await ledger.repo.claimRemediationSlot(slot())).toMatchObject({ allowed: true });
      expect(await ledger.repo.claimRemediationSlot(slot())).toMatchObject({ allowed: true });
    });

    it('counts failures in a row across skipped attempts, and a failure that finishes after a newer claim', async () => {
      advance(1_000);
      const slow = await grantedSlot();
      await attempt('failed');
      await ledger.repo.recordSkippedRemediation({ incidentId: 'x', remediationId: 'page', by: 'supervisor', detail: 'gone' });
      await attempt('failed');
      expect(await ledger.repo.claimRemediationSlot(slot())).toMatchObject({ allowed: true }); // two so far
      advance(1_000);
      await ledger.repo.finishRemediation(slow, { status: 'failed', detail: 'timed out' });
      expect(await ledger.repo.claimRemediationSlot(slot())).toMatchObject({
        allowed: false,
        reason: expect.stringContaining('circuit open'),
      });
    });

    it('does not let a lost trial keep the gate shut', async () => {
      for (let i = 0; i < 3; i++) await attempt('failed');
      advance(breaker.openMs);
      await grantedSlot(); // a trial whose process died: never finished
      expect(await ledger.repo.claimRemediationSlot(slot())).toMatchObject({ allowed: false });
      advance(breaker.openMs);
      expect(await ledger.repo.claimRemediationSlot(slot())).toMatchObject({ allowed: true });
    });

    it('records an outcome once, counts outcomes, and refuses an unknown slot', async () => {
      const slotId = await grantedSlot({ remediationId: 'cancel_run', by: 'alice' });
      advance(2_000);
      const finished = await ledger.repo.finishRemediation(slotId, { status: 'succeeded', detail: 'cancelled' });
      expect(finished).toMatchObject({
        slotId,
        remediationId: 'cancel_run',
        status: 'succeeded',
        detail: 'cancelled',
        by: 'alice',
        at: '2026-11-27T12:00:00.000Z',
        finishedAt: '2026-11-27T12:00:02.000Z',
      });
      expect(await ledger.repo.finishRemediation(slotId, { status: 'failed', detail: 'late retry' })).toEqual(finished);
      await attempt('failed');
      expect(await ledger.repo.remediationCounts()).toEqual([
        { remediationId: 'cancel_run', status: 'succeeded', count: 1 },
        { remediationId: 'release_reservation', status: 'failed', count: 1 },
      ]);
      await expect(ledger.repo.finishRemediation('no-such-slot', { status: 'failed', detail: '' })).rejects.toThrow(
        LedgerNotFoundError,
      );
    });

    it('lists the newest attempts first, at most 64', async () => {
      for (let i = 0; i < 70; i++) {
        advance(1);
        await ledger.repo.recordSkippedRemediation({
          incidentId: `i-${i}`,
          remediationId: 'page',
          by: 'supervisor',
          detail: `${i}`,
        });
      }
      const recent = await ledger.repo.recentRemediations({ limit: 500 });
      expect(recent).toHaveLength(64);
      expect(recent[0]?.detail).toBe('69');
      expect((await ledger.repo.recentRemediations({ limit: 2 })).map((r) => r.detail)).toEqual(['69', '68']);
    });
  });

  describe('tenant pauses', () => {
    it('pauses idempotently, lists, and resumes idempotently', async () => {
      const first = await ledger.repo.pauseTenant({
        tenantId: 'acme',
        reason: 'spend spike',
        by: 'alice',
        incidentId: 'incident-1',
      });
      expect(first).toEqual({
        created: true,
        pause: {
          tenantId: 'acme',
          reason: 'spend spike',
          pausedBy: 'alice',
          pausedAt: '2026-11-27T12:00:00.000Z',
          incidentId: 'incident-1',
        },
      });
      advance(1_000);
      const again = await ledger.repo.pauseTenant({ tenantId: 'acme', reason: 'other', by: 'bob' });
      expect(again).toEqual({ created: false, pause: first.pause });
      await ledger.repo.pauseTenant({ tenantId: 'Zeta', reason: 'manual', by: 'carol' });
      expect((await ledger.repo.pausedTenants()).map((p) => p.tenantId)).toEqual(['Zeta', 'acme']); // byte order
      expect(await ledger.repo.tenantPause('acme')).toEqual(first.pause);

      expect(await ledger.repo.resumeTenant('acme')).toEqual(first.pause);
      expect(await ledger.repo.resumeTenant('acme')).toBeUndefined();
      expect(await ledger.repo.tenantPause('acme')).toBeUndefined();
      expect((await ledger.repo.pausedTenants()).map((p) => p.tenantId)).toEqual(['Zeta']);
    });

    it('keeps one pause when two race', async () => {
      const results = await Promise.all(
        ['a', 'b', 'c', 'd'].map((by) => ledger.repo.pauseTenant({ tenantId: 'acme', reason: `by ${by}`, by })),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      const winner = results.find((r) => r.created)?.pause;
      expect(results.every((r) => r.pause.pausedBy === winner?.pausedBy)).toBe(true);
    });
  });

  describe('provider circuit overrides', () => {
    const at = (ms: number) => new Date(now.getTime() + ms);

    it('opens, extends but never shortens, expires, and opens afresh after expiry', async () => {
      const opened = await ledger.repo.openProviderCircuit({
        providerId: 'sim',
        openUntil: at(10 * minute),
        reason: 'retry storm',
        by: 'supervisor',
        incidentId: 'incident-7',
      });
      expect(opened).toEqual({
        opened: true,
        circuit: {
          providerId: 'sim',
          openUntil: '2026-11-27T12:10:00.000Z',
          reason: 'retry storm',
          openedBy: 'supervisor',
          openedAt: '2026-11-27T12:00:00.000Z',
          incidentId: 'incident-7',
        },
      });
      const shorter = await ledger.repo.openProviderCircuit({ providerId: 'sim', openUntil: at(minute), reason: 'x', by: 'bob' });
      expect(shorter).toEqual({ opened: false, circuit: opened.circuit });
      const longer = await ledger.repo.openProviderCircuit({
        providerId: 'sim',
        openUntil: at(20 * minute),
        reason: 'x',
        by: 'bob',
      });
      expect(longer).toEqual({ opened: false, circuit: { ...opened.circuit, openUntil: '2026-11-27T12:20:00.000Z' } });

      expect((await ledger.repo.openProviderCircuits(at(20 * minute - 1))).map((c) => c.providerId)).toEqual(['sim']);
      expect(await ledger.repo.openProviderCircuits(at(20 * minute))).toEqual([]);

      advance(20 * minute);
      const fresh = await ledger.repo.openProviderCircuit({
        providerId: 'sim',
        openUntil: at(minute),
        reason: 'again',
        by: 'carol',
      });
      expect(fresh).toEqual({
        opened: true,
        circuit: {
          providerId: 'sim',
          openUntil: '2026-11-27T12:21:00.000Z',
          reason: 'again',
          openedBy: 'carol',
          openedAt: '2026-11-27T12:20:00.000Z',
        },
      });
    });

    it('closes an open circuit', async () => {
      await ledger.repo.openProviderCircuit({ providerId: 'a', openUntil: at(minute), reason: 'r', by: 'x' });
      await ledger.repo.openProviderCircuit({ providerId: 'b', openUntil: at(minute), reason: 'r', by: 'x' });
      expect(await ledger.repo.closeProviderCircuit('a')).toBe(true);
      expect(await ledger.repo.closeProviderCircuit('a')).toBe(false);
      expect((await ledger.repo.openProviderCircuits()).map((c) => c.providerId)).toEqual(['b']);
    });
  });

  describe('supervisor ticks', () => {
    it('keeps the last tick and counts them', async () => {
      expect(await ledger.repo.lastSupervisorTick()).toBeUndefined();
      await ledger.repo.recordSupervisorTick({
        startedAt: now,
        durationMs: 120,
        findings: 2,
        result: { cleared: 1 },
        error: 'boom',
      });
      advance(15_000);
      await ledger.repo.recordSupervisorTick({ startedAt: now, durationMs: 80, findings: 0, result: { cleared: 0 } });
      expect(await ledger.repo.lastSupervisorTick()).toEqual({
        startedAt: '2026-11-27T12:00:15.000Z',
        durationMs: 80,
        findings: 0,
        result: { cleared: 0 },
        ticks: 2,
        recordedAt: '2026-11-27T12:00:15.000Z',
      });
    });
  });

  describe('supervisor reads', () => {
    let sequence = 0;
    const reservation = (tenantId: string, overrides: Partial<ReserveRequest> = {}): ReserveRequest => {
      sequence += 1;
      return {
        reservationId: `res-${sequence}`,
        runId: `booking-${sequence}`,
        scope: { tenantId, principalId: 'svc', modelId: 'sim-standard' },
        inputTokens: 100,
        maxOutputTokens: 50,
        price: testPrice,
        catalogVersion: 'test',
        expiresAt: new Date(now.getTime() + 30 * 60 * minute),
        ...overrides,
      };
    };
    /** Reserves and settles 100 input + `outputTokens` output tokens (250 + 10 × outputTokens µUSD) at `now`. */
    const spend = async (tenantId: string, outputTokens: number) => {
      const { reservationId } = await ledger.repo.reserve(reservation(tenantId));
      await ledger.repo.settle({ reservationId, actual: { inputTokens: 100, outputTokens } });
    };

    it('reports settled spend per tenant over the last hour and the 24 hours before it', async () => {
      const start = now.getTime();
      const to = (msAfterStart: number) => {
        now = new Date(start + msAfterStart);
      };
      to(0);
      await spend('acme', 0); // 250: more than 25 hours before the end, not counted
      to(60 * minute);
      await spend('acme', 10); // 350: trailing day
      await spend('globex', 50); // 750: trailing day
      const reserved = await ledger.repo.reserve(reservation('acme'));
      await ledger.repo.release(reserved.reservationId); // released: no spend
      to(24 * 60 * minute);
      await spend('acme', 20); // 450: trailing day (exactly one hour before the end)
      to(24 * 60 * minute + 1);
      await spend('acme', 30); // 550: last hour
      to(25 * 60 * minute);
      await spend('acme', 40); // 650: last hour
      await ledger.repo.reserve(reservation('acme')); // pending: no spend
      const nowOfReport = new Date(start + 25 * 60 * minute);
      expect(await ledger.repo.tenantSpendRates(nowOfReport)).toEqual([
        { tenantId: 'acme', lastHourMicroUsd: 1_200, trailingDayMicroUsd: 800 },
        { tenantId: 'globex', lastHourMicroUsd: 0, trailingDayMicroUsd: 750 },
      ]);
      await ledger.repo.expireDue(new Date(start + 60 * 60 * minute));
      now = new Date(start + 60 * 60 * minute);
    });

    it('lists pending holds oldest first, with their booking, amount and lifetime', async () => {
      const older = await ledger.repo.reserve(reservation('acme', { runId: 'run-1' }));
      advance(1_000);
      const settled = await ledger.repo.reserve(reservation('acme'));
      await ledger.repo.settle({ reservationId: settled.reservationId, actual: { inputTokens: 1, outputTokens: 1 } });
      const newer = await ledger.repo.reserve(reservation('globex', { runId: 'bgtask-run-1-1:1.1' }));
      const pending = await ledger.repo.pendingReservationsForSupervisor({ limit: 10 });
      expect(pending).toEqual([
        {
          reservationId: older.reservationId,
          tenantId: 'acme',
          bookingId: 'run-1',
          heldMicroUsd: 750,
          createdAt: Date.parse('2026-11-27T12:00:00Z'),
          expiresAt: Date.parse('2026-11-28T18:00:00Z'),
        },
        expect.objectContaining({ reservationId: newer.reservationId, tenantId: 'globex', bookingId: 'bgtask-run-1-1:1.1' }),
      ]);
      expect(await ledger.repo.pendingReservationsForSupervisor({ limit: 1 })).toHaveLength(1);
      for (const { reservationId } of pending) await ledger.repo.release(reservationId);
    });
  });
});
