import { setTimeout as delay } from 'node:timers/promises';
import { AdmissionQueueFullError, createAdmissionGate } from '../../src/api/runs/admission-gate';

/** The admission gate on its own: a bound in flight, a queue fair across tenants, refusal past the wait. */
describe('admission gate', () => {
  const slow =
    (log: string[], label: string, ms = 20) =>
    async () => {
      log.push(`start ${label}`);
      await delay(ms);
      return label;
    };

  it('runs at most maxInFlight at once and serves waiting tenants in turn', async () => {
    const gate = createAdmissionGate({ maxInFlight: 1, maxWaitMs: 5_000 });
    const log: string[] = [];
    const burst = ['a1', 'a2', 'a3', 'a4'].map((id) => gate.run('acme', slow(log, id)));
    await delay(1);
    const other = gate.run('globex', slow(log, 'g1'));
    expect(gate.load()).toEqual({ inFlight: 1, waiting: 4 });
    await Promise.all([...burst, other]);
    // globex's one request goes right after the request in flight, not behind acme's whole burst.
    expect(log).toEqual(['start a1', 'start a2', 'start g1', 'start a3', 'start a4']);
    expect(gate.load()).toEqual({ inFlight: 0, waiting: 0 });
  });

  it('refuses a request that waited past maxWaitMs, with a Retry-After, and never runs it', async () => {
    const gate = createAdmissionGate({ maxInFlight: 1, maxWaitMs: 50 });
    const log: string[] = [];
    const first = gate.run('acme', slow(log, 'long', 200));
    const refused = gate.run('acme', slow(log, 'late'));
    await expect(refused).rejects.toBeInstanceOf(AdmissionQueueFullError);
    await expect(refused).rejects.toMatchObject({ retryAfterSeconds: 1 });
    await first;
    expect(log).toEqual(['start long']);
    expect(gate.load()).toEqual({ inFlight: 0, waiting: 0 });
  });

  it('frees the slot when an admission fails', async () => {
    const gate = createAdmissionGate({ maxInFlight: 1, maxWaitMs: 1_000 });
    await expect(gate.run('acme', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await gate.run('acme', async () => 'next')).toBe('next');
  });
});
