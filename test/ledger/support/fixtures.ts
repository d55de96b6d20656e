import type { BudgetPolicy } from '../../../src/domain/budget';
import type { ModelPrice } from '../../../src/domain/pricing';
import type { ReserveRequest } from '../../../src/ledger';

/** $2.50 / $10 per MTok: 2.5 µUSD per input token, 10 µUSD per output token. */
export const testPrice: ModelPrice = { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 };

/** A daily cost policy of tenant acme that blocks past 1,000 µUSD, unless overridden. */
export function testPolicy(overrides: Partial<BudgetPolicy> & { policyId: string }): BudgetPolicy {
  return {
    scope: { kind: 'tenant', id: 'acme' },
    metric: 'cost',
    window: 'day',
    hardLimit: 1_000,
    action: 'block',
    enabled: true,
    ...overrides,
  };
}

/**
 * A reservation of acme's service on 2026-11-27 at noon for an hour: 750 µUSD (100 input and 50
 * output tokens at testPrice), never clamped.
 */
export function testWholeReservation(id: string, overrides: Partial<ReserveRequest> = {}): ReserveRequest {
  return {
    reservationId: id,
    runId: `run-${id}`,
    scope: { tenantId: 'acme', principalId: 'acme/svc', modelId: 'sim-standard' },
    inputTokens: 100,
    maxOutputTokens: 50,
    minOutputTokens: 50,
    price: testPrice,
    catalogVersion: 'test',
    expiresAt: new Date('2026-11-27T13:00:00Z'),
    ...overrides,
  };
}
