/**
 * Backpressure in front of run admission (issue 13): at most `maxInFlight` admissions per API process
 * at once; past that, requests wait in a queue that is fair across tenants (round robin: one tenant's
 * burst waits behind its own requests, not in front of another tenant's) for up to `maxWaitMs`, then
 * are refused so the caller can answer 503 with Retry-After. Nothing is started for a refused request.
 */
export interface AdmissionGateSettings {
  maxInFlight: number;
  maxWaitMs: number;
}

export class AdmissionQueueFullError extends Error {
  override readonly name = 'AdmissionQueueFullError';
  constructor(
    readonly waitedMs: number,
    readonly retryAfterSeconds: number,
  ) {
    super(`too many runs are being admitted; waited ${waitedMs} ms for a slot`);
  }
}

interface Waiter {
  grant: () => void;
  refuse: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export type AdmissionGate = ReturnType<typeof createAdmissionGate>;

export function createAdmissionGate(settings: AdmissionGateSettings, now: () => number = Date.now) {
  let inFlight = 0;
  /** Waiters by tenant, in arrival order; tenants served in turn. */
  const queues = new Map<string, Waiter[]>();
  const turn: string[] = [];

  function release(): void {
    inFlight--;
    // The next tenant in turn gets the slot; it goes to the back of the turn if it has more waiting.
    while (turn.length > 0 && inFlight < settings.maxInFlight) {
      const tenant = turn.shift() as string;
      const queue = queues.get(tenant) ?? [];
      const waiter = queue.shift();
      if (queue.length > 0) turn.push(tenant);
      else queues.delete(tenant);
      if (!waiter) continue;
      clearTimeout(waiter.timer);
      inFlight++;
      waiter.grant();
    }
  }

  return {
    /** Runs `admit` once a slot is free for `tenantId`; refuses with AdmissionQueueFullError past the wait. */
    async run<T>(tenantId: string, admit: () => Promise<T>): Promise<T> {
      if (inFlight < settings.maxInFlight && turn.length === 0) {
        inFlight++;
      } else {
        const queuedAt = now();
        await new Promise<void>((grant, refuse) => {
          const waiter: Waiter = {
            grant,
            refuse,
            timer: setTimeout(() => {
              const queue = queues.get(tenantId) ?? [];
              const index = queue.indexOf(waiter);
              if (index >= 0) queue.splice(index, 1);
              if (queue.length === 0) {
                queues.delete(tenantId);
                const at = turn.indexOf(tenantId);
                if (at >= 0) turn.splice(at, 1);
              }
              refuse(new AdmissionQueueFullError(now() - queuedAt, Math.max(1, Math.ceil(settings.maxWaitMs / 1000))));
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
        release();
      }
    },
    /** Admissions running now and waiting, for metrics and tests. */
    load(): { inFlight: number; waiting: number } {
      let waiting = 0;
      for (const queue of queues.values()) waiting += queue.length;
      return { inFlight, waiting };
    },
  };
}
