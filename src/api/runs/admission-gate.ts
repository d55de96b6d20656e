/**
 * Backpressure in front of run admission (issue 13): at most `maxInFlight` admissions per API process
 * at once, and at most `maxInFlightPerTenant` of them for any one tenant, so that one tenant's burst
 * always leaves slots free for the others: a quiet tenant arriving mid-burst starts at once instead of
 * waiting for one of the burst's admissions to finish. Past either bound, requests wait in a queue
 * that is fair across tenants (round robin: one tenant's burst waits behind its own requests, not in
 * front of another tenant's) for up to `maxWaitMs`, then are refused so the caller can answer 503
 * with Retry-After. Nothing is started for a refused request.
 *
 * The invariant that keeps every waiter moving: after each arrival, release and refusal, no waiter
 * could take a slot that is free (either every slot is taken or every waiting tenant holds its
 * share). Only a release frees a slot, and each release hands out what it freed at once.
 */
export interface AdmissionGateSettings {
  maxInFlight: number;
  /** Defaults to half of `maxInFlight`, rounded up; equal to `maxInFlight`, no tenant is held back. */
  maxInFlightPerTenant?: number;
  maxWaitMs: number;
}

/** Half the slots: a burst from one tenant leaves the other half to everyone else. */
function defaultMaxInFlightPerTenant(maxInFlight: number): number {
  return Math.max(1, Math.ceil(maxInFlight / 2));
}

export class AdmissionQueueFullError extends Error {
  override readonly name = 'AdmissionQueueFullError';
  constructor(
    readonly waitedMs: number,
    readonly retryAfterSeconds: number,
    /** What held the request back when its wait ran out: every slot taken, or its tenant's share. */
    readonly bound: { kind: 'process'; maxInFlight: number } | { kind: 'tenant'; maxInFlightPerTenant: number },
  ) {
    super(`too many runs are being admitted; waited ${waitedMs} ms for a slot`);
  }
}

interface Waiter {
  grant: () => void;
  refuse: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface TenantAdmissionLoad {
  inFlight: number;
  waiting: number;
}

export type AdmissionGate = ReturnType<typeof createAdmissionGate>;

export function createAdmissionGate(settings: AdmissionGateSettings, now: () => number = Date.now) {
  const maxPerTenant = settings.maxInFlightPerTenant ?? defaultMaxInFlightPerTenant(settings.maxInFlight);
  let inFlight = 0;
  /** Slots held by tenant; a tenant holding none has no entry, so the map is bounded by the slots. */
  const heldByTenant = new Map<string, number>();
  /** Waiters by tenant, in arrival order; a tenant has an entry only while it has waiters. */
  const queues = new Map<string, Waiter[]>();
  /** Tenants with waiters, in the order they are served. */
  const turn: string[] = [];

  const heldBy = (tenantId: string) => heldByTenant.get(tenantId) ?? 0;

  function take(tenantId: string): void {
    inFlight++;
    heldByTenant.set(tenantId, heldBy(tenantId) + 1);
  }

  function giveBack(tenantId: string): void {
    inFlight--;
    const held = heldBy(tenantId) - 1;
    if (held > 0) heldByTenant.set(tenantId, held);
    else heldByTenant.delete(tenantId);
  }

  /**
   * Hands free slots to waiters, one per tenant in turn; a tenant served goes to the back of the turn
   * if it has more waiting. A tenant holding its share is passed over but keeps its place, so the
   * slot it next gives back is offered to it first rather than to whoever came after it.
   */
  function grantWaiting(): void {
    let position = 0;
    while (inFlight < settings.maxInFlight && position < turn.length) {
      const tenantId = turn[position] as string;
      if (heldBy(tenantId) >= maxPerTenant) {
        position++;
        continue;
      }
      turn.splice(position, 1);
      const queue = queues.get(tenantId) as Waiter[];
      const waiter = queue.shift() as Waiter;
      if (queue.length > 0) turn.push(tenantId);
      else queues.delete(tenantId);
      clearTimeout(waiter.timer);
      take(tenantId);
      waiter.grant();
    }
  }

  function release(tenantId: string): void {
    giveBack(tenantId);
    grantWaiting();
  }

  function withdraw(tenantId: string, waiter: Waiter): void {
    const queue = queues.get(tenantId) ?? [];
    const index = queue.indexOf(waiter);
    if (index >= 0) queue.splice(index, 1);
    if (queue.length === 0) {
      queues.delete(tenantId);
      const at = turn.indexOf(tenantId);
      if (at >= 0) turn.splice(at, 1);
    }
  }

  return {
    /** Runs `admit` once a slot is free for `tenantId`; refuses with AdmissionQueueFullError past the wait. */
    async run<T>(tenantId: string, admit: () => Promise<T>): Promise<T> {
      // By the invariant above, a tenant with no waiters of its own that finds a slot free and its
      // share not used up overtakes nobody who could have had that slot.
      if (inFlight < settings.maxInFlight && heldBy(tenantId) < maxPerTenant && !queues.has(tenantId)) {
        take(tenantId);
      } else {
        const queuedAt = now();
        await new Promise<void>((grant, refuse) => {
          const waiter: Waiter = {
            grant,
            refuse,
            timer: setTimeout(() => {
              withdraw(tenantId, waiter);
              const bound =
                heldBy(tenantId) >= maxPerTenant
                  ? { kind: 'tenant' as const, maxInFlightPerTenant: maxPerTenant }
                  : { kind: 'process' as const, maxInFlight: settings.maxInFlight };
              refuse(new AdmissionQueueFullError(now() - queuedAt, Math.max(1, Math.ceil(settings.maxWaitMs / 1000)), bound));
            }, settings.maxWaitMs),
          };
          const queue = queues.get(tenantId);
          if (queue) queue.push(waiter);
          else {
            queues.set(tenantId, [waiter]);
            turn.push(tenantId);
          }
        });
      }
      try {
        return await admit();
      } finally {
        release(tenantId);
      }
    },
    /** Admissions running now and waiting, in all and by tenant (only tenants with either), for metrics and tests. */
    load(): { inFlight: number; waiting: number; tenants: Record<string, TenantAdmissionLoad> } {
      const tenants = new Map<string, TenantAdmissionLoad>();
      for (const [tenantId, held] of heldByTenant) tenants.set(tenantId, { inFlight: held, waiting: 0 });
      let waiting = 0;
      for (const [tenantId, queue] of queues) {
        waiting += queue.length;
        tenants.set(tenantId, { inFlight: heldBy(tenantId), waiting: queue.length });
      }
      // fromEntries defines own properties, so a tenant id like `__proto__` stays an entry.
      return { inFlight, waiting, tenants: Object.fromEntries(tenants) };
    },
  };
}
