import {
  defaultCircuitBreakerSettings,
  providerHealthAt,
  recordOutcome,
  type BreakerState,
  type CircuitBreakerSettings,
  type ProviderCircuits,
} from '../domain/routing';
import type { LedgerRepository, ProviderCircuitOverride } from '../ledger';

/**
 * The circuit breakers of this process, fed by provider call outcomes and read by routing. Each
 * process keeps its own view (under `palyra dev` the worker and the API share one); a separate API
 * process sees every provider closed until its own calls say otherwise.
 */
export interface ProviderHealthMonitor {
  record(providerId: string, ok: boolean, at?: number): void;
  snapshot(now?: number): Record<string, BreakerState>;
}

export function createProviderHealthMonitor(
  settings: CircuitBreakerSettings = defaultCircuitBreakerSettings,
): ProviderHealthMonitor {
  let circuits: ProviderCircuits = {};
  return {
    record(providerId, ok, at = Date.now()) {
      circuits = recordOutcome(circuits, { providerId, ok, at }, settings);
    },
    snapshot(now = Date.now()) {
      return providerHealthAt(circuits, now, settings);
    },
  };
}

/** How long a process trusts what it last read of the circuits opened for the whole installation. */
export const circuitOverrideCacheTtlMs = 2_000;

/**
 * Provider circuits opened for the whole installation (the `open_provider_circuit` remediation,
 * stored in the ledger), read at most once per TTL. An override opened elsewhere reaches routing
 * within the TTL; its expiry is exact, as each read checks `openUntil` against the time asked about.
 */
export interface ProviderCircuitOverrides {
  openProviders(now?: number): Promise<string[]>;
}

export function createProviderCircuitOverrides({
  ledger,
  ttlMs = circuitOverrideCacheTtlMs,
}: {
  ledger: Pick<LedgerRepository, 'openProviderCircuits'>;
  ttlMs?: number;
}): ProviderCircuitOverrides {
  let cached: { readAt: number; overrides: Promise<ProviderCircuitOverride[]> } | undefined;
  return {
    async openProviders(now = Date.now()) {
      if (!cached || now - cached.readAt >= ttlMs || now < cached.readAt) {
        const read = { readAt: now, overrides: ledger.openProviderCircuits(new Date(now)) };
        // A failed read is not kept: the next plan tries again.
        read.overrides.catch(() => {
          if (cached === read) cached = undefined;
        });
        cached = read;
      }
      const openAt = new Date(now).toISOString();
      return (await cached.overrides).filter((o) => o.openUntil > openAt).map((o) => o.providerId);
    },
  };
}

/**
 * The breaker states routing sees: this process's own, with every provider an installation-wide
 * override holds open reading `open`, so routing goes around it exactly as around a tripped breaker.
 */
export function withCircuitOverrides(
  health: Readonly<Record<string, BreakerState>>,
  overridden: readonly string[],
): Record<string, BreakerState> {
  return { ...health, ...Object.fromEntries(overridden.map((providerId) => [providerId, 'open' as const])) };
}
