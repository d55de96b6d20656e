/**
 * Failed authentication, counted per client address (issue 14: guessing tokens must cost time). Past
 * `threshold` failures within `windowMs`, the address is blocked for 1 s, doubling with every further
 * failure up to `maxDelayMs`; while blocked, every request from it that carries credentials is
 * refused unchecked (a right guess gets no answer either). The window restarts once quiet for
 * `windowMs`. Bounded: the least recently failing addresses are forgotten past `maxTracked`.
 */
export interface FailedAuthThrottleSettings {
  threshold: number;
  windowMs: number;
  maxDelayMs: number;
}

interface AddressRecord {
  failures: number;
  firstFailureAt: number;
  lastFailureAt: number;
  blockedUntil: number;
}

export const maxTrackedAddresses = 10_000;
const firstDelayMs = 1_000;

export function createFailedAuthThrottle(settings: FailedAuthThrottleSettings, now: () => number = Date.now) {
  const records = new Map<string, AddressRecord>();

  return {
    /** How long the address must still wait, in ms (0: not blocked). */
    blockedFor(address: string): number {
      const record = records.get(address);
      return record ? Math.max(0, record.blockedUntil - now()) : 0;
    },

    /** Counts a failure; answers how long the address is now blocked (0 while under the threshold). */
    recordFailure(address: string): number {
      const at = now();
      let record = records.get(address);
      if (!record || at - record.lastFailureAt > settings.windowMs) {
        record = { failures: 0, firstFailureAt: at, lastFailureAt: at, blockedUntil: 0 };
      }
      record.failures += 1;
      record.lastFailureAt = at;
      const excess = record.failures - settings.threshold;
      if (excess > 0) record.blockedUntil = at + Math.min(settings.maxDelayMs, firstDelayMs * 2 ** Math.min(excess - 1, 30));
      // Re-inserted last: the map's order is least recently failing first.
      records.delete(address);
      records.set(address, record);
      if (records.size > maxTrackedAddresses) records.delete(records.keys().next().value as string);
      return Math.max(0, record.blockedUntil - at);
    },

    tracked(): number {
      return records.size;
    },
  };
}
