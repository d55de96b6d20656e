/** How many times a run's provider call is tried (Temporal retries it; a task retries whole attempts itself). */
export const runProviderAttempts = 5;

/**
 * How long a run's hold lives from when it is made: the longest the provider step can take (every
 * attempt to its timeout) plus a margin, so the sweeper never takes back the hold of a run that is
 * still going. The workflow's admission and the API's (which decides first, under `palyra dev`)
 * count it the same way.
 */
export function reservationTtlMs(providerTimeoutMs: number, providerAttempts: number): number {
  const reservationMarginMs = 5 * 60_000;
  return providerTimeoutMs * providerAttempts + reservationMarginMs;
}
