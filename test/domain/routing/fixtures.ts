import { configSchema, type ModelConfig, type PalyraConfigInput } from '../../../src/config/schema';
import { usdPerMTokToMicro, type ModelPrice } from '../../../src/domain/pricing';
import type { RoutableModel, RoutingInput } from '../../../src/domain/routing';

/**
 * Three models as an operator would configure them, each on its own provider so breakers can
 * differ: a cheap 16k model, a standard 128k model and a premium 200k vision model. They go through
 * the real config schema, so the tests also prove `ModelConfig` satisfies `RoutableModel`.
 */
const fixtureConfig: PalyraConfigInput = {
  providers: [
    { id: 'budget-ai', kind: 'simulated' },
    { id: 'acme', kind: 'simulated' },
    { id: 'frontier', kind: 'simulated' },
  ],
  models: [
    {
      id: 'mini',
      provider: 'budget-ai',
      tier: 'low',
      latency: 'low',
      contextWindow: 16_000,
      maxOutputTokens: 2_048,
      pricing: { inputPerMTokUsd: 0.15, outputPerMTokUsd: 0.6 },
    },
    {
      id: 'std',
      provider: 'acme',
      tier: 'standard',
      contextWindow: 128_000,
      maxOutputTokens: 8_192,
      pricing: { inputPerMTokUsd: 2.5, outputPerMTokUsd: 10 },
    },
    {
      id: 'max',
      provider: 'frontier',
      tier: 'premium',
      latency: 'high',
      contextWindow: 200_000,
      maxOutputTokens: 16_384,
      capabilities: { json: true, vision: true },
      pricing: { inputPerMTokUsd: 15, outputPerMTokUsd: 75 },
    },
  ],
  routing: { mode: 'suggest', defaultModel: 'std' },
};

export const config = configSchema.parse(fixtureConfig);
export const models: RoutableModel[] = config.models;

/** A standard-tier model without JSON mode, for the capability filter. */
export const plainModel: RoutableModel = configSchema.parse({
  ...fixtureConfig,
  models: [{ id: 'plain', provider: 'acme', tier: 'standard', capabilities: { json: false, vision: false } }],
  routing: { defaultModel: 'plain' },
}).models[0] as ModelConfig;

export function pricesOf(list: readonly ModelConfig[]): Record<string, ModelPrice | null> {
  return Object.fromEntries(
    list.map((model) => [
      model.id,
      model.pricing
        ? {
            inputMicroUsdPerMTok: usdPerMTokToMicro(model.pricing.inputPerMTokUsd),
            outputMicroUsdPerMTok: usdPerMTokToMicro(model.pricing.outputPerMTokUsd),
          }
        : null,
    ]),
  );
}

export const prices = pricesOf(config.models);

/** A short, plain, interactive request with every provider healthy and the budget fine. */
export function routingInput(overrides: Partial<RoutingInput> = {}): RoutingInput {
  return {
    taskClass: 'primary_interactive',
    mode: 'enforced',
    defaultModel: config.routing.defaultModel,
    models,
    prices,
    inputTokens: 1_000,
    promptChars: 4_000,
    jsonMode: false,
    hasVision: false,
    budgetStatus: 'ok',
    providerHealth: {},
    ...overrides,
  };
}
