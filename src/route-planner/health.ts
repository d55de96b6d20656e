import {
  defaultCircuitBreakerSettings,
  providerHealthAt,
  recordOutcome,
  type BreakerState,
  type CircuitBreakerSettings,
  type ProviderCircuits,
} from '../domain/routing';

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
