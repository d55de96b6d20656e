/**
 * The priced simulated model most run tests book against: $2.50 in / $10 out per MTok, i.e. 2.5 µUSD
 * per input token and 10 µUSD per output token.
 */
export const simStandardModel = {
  id: 'sim-standard',
  provider: 'simulated',
  tier: 'standard',
  contextWindow: 128_000,
  maxOutputTokens: 8_192,
  pricing: { inputPerMTokUsd: 2.5, outputPerMTokUsd: 10 },
} as const;
