import type { BudgetPolicy } from '../../../src/domain/budget';
import type { ModelPrice } from '../../../src/domain/pricing';

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
