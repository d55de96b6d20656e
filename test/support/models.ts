import { defaultModels } from '../../src/config/schema';

/**
 * The built-in priced simulated model most run tests book against: $2.50 in / $10 out per MTok,
 * i.e. 2.5 µUSD per input token and 10 µUSD per output token.
 */
export const simStandardModel = defaultModels.find((model) => model.id === 'sim-standard') as (typeof defaultModels)[number];

/** A simulated model at $1 in / $30 out per MTok: 30 µUSD per output token, so retries cost visibly. */
export const simPriceyModel = {
  id: 'sim-pricey',
  provider: 'simulated',
  tier: 'standard',
  contextWindow: 16_000,
  maxOutputTokens: 2_048,
  pricing: { inputPerMTokUsd: 1, outputPerMTokUsd: 30 },
} as const;
