import type { BudgetPolicy } from '../../../src/domain/budget';
import type { ReserveRequest } from '../../../src/ledger';

/** Every reservation costs exactly 750 µUSD (100 in + 50 out at $2.50 / $10 per MTok), unclamped. */
export const reservationCostMicroUsd = 750;
export const admissibleReservations = 50;

export const concurrencyPolicy: BudgetPolicy = {
  policyId: 'exactly-fifty',
  scope: { kind: 'tenant', id: 'acme' },
  metric: 'cost',
  window: 'day',
  hardLimit: reservationCostMicroUsd * admissibleReservations,
  action: 'block',
  enabled: true,
};

export function reservationFor(id: string): ReserveRequest {
  return {
    reservationId: id,
    runId: `run-${id}`,
    scope: { tenantId: 'acme', principalId: 'svc', modelId: 'sim-standard' },
    inputTokens: 100,
    maxOutputTokens: 50,
    // No clamping: the 51st reservation must be refused, not squeezed in smaller.
    minOutputTokens: 50,
    price: { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 },
    catalogVersion: 'concurrency-test',
    expiresAt: new Date(Date.now() + 3_600_000),
  };
}
