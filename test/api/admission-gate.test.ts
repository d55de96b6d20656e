import { setTimeout as delay } from 'node:timers/promises';
import { AdmissionQueueFullError, createAdmissionGate, type AdmissionGate } from '../../src/api/runs/admission-gate';
import { configSchema } from '../../src/config/schema';

/**
 * The admission gate on its own: a bound in flight, a share of it per tenant, a queue fair across
 * tenants, refusal past the wait.
 */
describe('admission gate', () => {
  const slow =
    (log: string[], label: string, ms = 20) =>
    async () => {
      log.push(`start ${label}`);
      await delay(ms);
      return label;
    };

  /** Lets granted waiters resume and start their admission. */
  const settle = () => delay(0);

  /** An admission that holds its slot until the test finishes it. */
  function heldAdmission(gate: AdmissionGate, tenantId: string, log: string[] = [], label = tenantId) {
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const admission = { started: false, finish, done: Promise.resolve() };
    admission.done = gate.run(tenantId, async () => {
      admission.started = true;
      log.push(`start ${label}`);
      await finished;
    });
    return admission;
  }

  it('runs at most maxInFlight at once and serves waiting tenants in turn', async () => {
    const gate = createAdmissionGate({ maxInFlight: 1, maxWaitMs: 5_000 });
    const log: string[] = [];
    const burst = ['a1', 'a2', 'a3', 'a4'].map((id) => gate.run('acme', slow(log, id)));
    await delay(1);
    const other = gate.run('globex', slow(log, 'g1'));
    expect(gate.load()).toEqual({
      inFlight: 1,
      waiting: 4,
      tenants: { acme: { inFlight: 1, waiting: 3 }, globex: { inFlight: 0, waiting: 1 } },
    });
    await Promise.all([...burst, other]);
    // globex's one request goes right after the request in flight, not behind acme's whole burst.
    expect(log).toEqual(['start a1', 'start a2', 'start g1', 'start a3', 'start a4']);
    expect(gate.load()).toEqual({ inFlight: 0, waiting: 0, tenants: {} });
  });

  it('leaves the slots past a bursting tenant’s share free, so a newcomer starts at once', async () => {
    const gate = createAdmissionGate({ maxInFlight: 4, maxWaitMs: 5_000 });
    const burst = Array.from({ length: 10 }, () => heldAdmission(gate, 'acme'));
    await settle();
    // Half the slots by default: acme waits although two are free.
    expect(burst.filter((admission) => admission.started)).toHaveLength(2);
    expect(gate.load()).toMatchObject({ inFlight: 2, waiting: 8 });

    const newcomer = heldAdmission(gate, 'globex');
    expect(newcomer.started).toBe(true);
    expect(gate.load().tenants).toEqual({ acme: { inFlight: 2, waiting: 8 }, globex: { inFlight: 1, waiting: 0 } });

    for (const admission of [newcomer, ...burst]) admission.finish();
    await Promise.all([newcomer, ...burst].map((admission) => admission.done));
    expect(gate.load()).toEqual({ inFlight: 0, waiting: 0, tenants: {} });
  });

  it.each([
    [1, 1],
    [5, 3],
    [64, 32],
  ])('lets one tenant hold half of %i slots by default, rounded up: %i', async (maxInFlight, share) => {
    const gate = createAdmissionGate({ maxInFlight, maxWaitMs: 5_000 });
    const burst = Array.from({ length: maxInFlight + 1 }, () => heldAdmission(gate, 'acme'));
    await settle();
    expect(burst.filter((admission) => admission.started)).toHaveLength(share);
    for (const admission of burst) admission.finish();
    await Promise.all(burst.map((admission) => admission.done));
  });

  it('keeps a tenant within its share as its slots free up, and grants its next waiter each time', async () => {
    const gate = createAdmissionGate({ maxInFlight: 3, maxInFlightPerTenant: 2, maxWaitMs: 5_000 });
    const burst = Array.from({ length: 6 }, () => heldAdmission(gate, 'acme'));
    await settle();
    for (let finished = 0; finished < burst.length; finished++) {
      // Nothing else wants the third slot, yet acme never holds it; each slot acme gives back goes
      // to acme's next waiter (no other tenant is waiting for it).
      expect(burst.filter((admission) => admission.started).length).toBe(Math.min(burst.length, finished + 2));
      expect(gate.load().inFlight).toBe(Math.min(2, burst.length - finished));
      burst[finished]!.finish();
      await burst[finished]!.done;
      await settle();
    }
    expect(gate.load()).toEqual({ inFlight: 0, waiting: 0, tenants: {} });
  });

  it('passes over a tenant at its share and serves it first once it gives a slot back', async () => {
    const gate = createAdmissionGate({ maxInFlight: 2, maxInFlightPerTenant: 1, maxWaitMs: 5_000 });
    const log: string[] = [];
    const a1 = heldAdmission(gate, 'acme', log, 'a1');
    const g1 = heldAdmission(gate, 'globex', log, 'g1');
    const a2 = heldAdmission(gate, 'acme', log, 'a2');
    const g2 = heldAdmission(gate, 'globex', log, 'g2');
    const g3 = heldAdmission(gate, 'globex', log, 'g3');
    const i1 = heldAdmission(gate, 'initech', log, 'i1');
    const all = [a1, g1, a2, g2, g3, i1];
    const finish = async (admission: (typeof all)[number]) => {
      admission.finish();
      await admission.done;
      await settle();
    };
    expect(log).toEqual(['start a1', 'start g1']);
    // acme is first in turn but holds its share: the slot globex frees goes past it, to globex.
    await finish(g1);
    expect(log.slice(2)).toEqual(['start g2']);
    // acme kept its place: the slot it frees goes to its next waiter, not to initech behind it.
    await finish(a1);
    expect(log.slice(3)).toEqual(['start a2']);
    // Then round robin as usual: initech, then globex again.
    await finish(g2);
    await finish(a2);
    expect(log.slice(4)).toEqual(['start i1', 'start g3']);

    for (const admission of all) admission.finish();
    await Promise.all(all.map((admission) => admission.done));
    expect(gate.load()).toEqual({ inFlight: 0, waiting: 0, tenants: {} });
  });

  it('strands no waiter among many tenants of uneven bursts, and never leaves a slot idle that a waiter could take', async () => {
    const maxInFlight = 5;
    const maxInFlightPerTenant = 2;
    const gate = createAdmissionGate({ maxInFlight, maxInFlightPerTenant, maxWaitMs: 30_000 });
    const running = new Map<string, number>();
    const violations: string[] = [];
    const check = (moment: string) => {
      const load = gate.load();
      if (load.inFlight > maxInFlight) violations.push(`${moment}: ${load.inFlight} in flight`);
      for (const [tenantId, tenant] of Object.entries(load.tenants)) {
        if (tenant.inFlight > maxInFlightPerTenant) violations.push(`${moment}: ${tenantId} holds ${tenant.inFlight}`);
        if (tenant.waiting > 0 && load.inFlight < maxInFlight && tenant.inFlight < maxInFlightPerTenant) {
          violations.push(`${moment}: ${tenantId} waits with a slot free and its share not used up`);
        }
      }
      for (const [tenantId, count] of running) {
        if (count > maxInFlightPerTenant) violations.push(`${moment}: ${tenantId} runs ${count} admissions`);
      }
    };
    // Deterministic, uneven: tenant t0 bursts 30, others a few, durations 1–7 ms.
    let seed = 7;
    const next = (bound: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % bound;
    };
    const admissions: Promise<string>[] = [];
    for (let wave = 0; wave < 3; wave++) {
      for (let tenant = 0; tenant < 8; tenant++) {
        const tenantId = `t${tenant}`;
        const count = tenant === 0 ? 10 : 1 + next(4);
        for (let i = 0; i < count; i++) {
          const ms = 1 + next(7);
          admissions.push(
            gate.run(tenantId, async () => {
              running.set(tenantId, (running.get(tenantId) ?? 0) + 1);
              check(`start of ${tenantId}`);
              await delay(ms);
              running.set(tenantId, (running.get(tenantId) ?? 1) - 1);
              return tenantId;
            }),
          );
          check(`arrival of ${tenantId}`);
        }
      }
      await delay(3);
    }
    const pending = Promise.all(admissions);
    const watch = setInterval(() => check('a tick'), 1);
    try {
      await expect(pending).resolves.toHaveLength(admissions.length);
    } finally {
      clearInterval(watch);
    }
    expect(violations).toEqual([]);
    expect(gate.load()).toEqual({ inFlight: 0, waiting: 0, tenants: {} });
  });

  it('refuses a request that waited past maxWaitMs, with a Retry-After, and never runs it', async () => {
    const gate = createAdmissionGate({ maxInFlight: 1, maxWaitMs: 50 });
    const log: string[] = [];
    const first = gate.run('acme', slow(log, 'long', 200));
    const refused = gate.run('acme', slow(log, 'late'));
    const refusedOther = gate.run('globex', slow(log, 'other'));
    await expect(refused).rejects.toBeInstanceOf(AdmissionQueueFullError);
    await expect(refused).rejects.toMatchObject({ retryAfterSeconds: 1 });
    // The refusal says what held it back: acme its own share, globex the process's every slot.
    await expect(refused).rejects.toMatchObject({ bound: { kind: 'tenant', maxInFlightPerTenant: 1 } });
    await expect(refusedOther).rejects.toMatchObject({ bound: { kind: 'process', maxInFlight: 1 } });
    await first;
    expect(log).toEqual(['start long']);
    expect(gate.load()).toEqual({ inFlight: 0, waiting: 0, tenants: {} });
  });

  it('refuses a tenant held at its share past maxWaitMs even with slots free, and still serves the others', async () => {
    const gate = createAdmissionGate({ maxInFlight: 4, maxInFlightPerTenant: 1, maxWaitMs: 50 });
    const log: string[] = [];
    const first = heldAdmission(gate, 'acme', log, 'a1');
    const refused = heldAdmission(gate, 'acme', log, 'a2');
    expect(refused.started).toBe(false);
    await expect(refused.done).rejects.toMatchObject({ bound: { kind: 'tenant', maxInFlightPerTenant: 1 } });
    expect(gate.load()).toEqual({ inFlight: 1, waiting: 0, tenants: { acme: { inFlight: 1, waiting: 0 } } });
    const other = heldAdmission(gate, 'globex', log, 'g1');
    expect(other.started).toBe(true);
    for (const admission of [first, other]) admission.finish();
    await Promise.all([first.done, other.done]);
    expect(log).toEqual(['start a1', 'start g1']);
    expect(gate.load()).toEqual({ inFlight: 0, waiting: 0, tenants: {} });
  });

  it('frees the slot when an admission fails', async () => {
    const gate = createAdmissionGate({ maxInFlight: 1, maxWaitMs: 1_000 });
    await expect(gate.run('acme', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await gate.run('acme', async () => 'next')).toBe('next');
  });
});

describe('runs.maxAdmissionsInFlightPerTenant', () => {
  it('is optional, so the gate takes half of maxAdmissionsInFlight', () => {
    expect(configSchema.parse({}).runs.maxAdmissionsInFlightPerTenant).toBeUndefined();
    expect(configSchema.parse({ runs: { maxAdmissionsInFlightPerTenant: 64 } }).runs.maxAdmissionsInFlightPerTenant).toBe(64);
  });

  it('is refused above maxAdmissionsInFlight, naming the key', () => {
    const parsed = configSchema.safeParse({ runs: { maxAdmissionsInFlight: 4, maxAdmissionsInFlightPerTenant: 5 } });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues).toEqual([
      expect.objectContaining({
        path: ['runs', 'maxAdmissionsInFlightPerTenant'],
        message: 'must be at most runs.maxAdmissionsInFlight (4)',
      }),
    ]);
  });
});
