import type { ModelConfig, ProviderConfig } from '../../src/config/schema';
import type { ModelPrice } from '../../src/domain/pricing';
import { createPriceCatalog, UnknownPriceError } from '../../src/price-catalog/catalog';

const providers: ProviderConfig[] = [
  { id: 'simulated', kind: 'simulated' },
  { id: 'openai', kind: 'openai-compatible', baseUrl: 'https://api.openai.com/v1' },
  { id: 'my-gateway', kind: 'openai-compatible', baseUrl: 'https://gateway.example/v1' },
];

function model(id: string, provider: string, pricing?: ModelConfig['pricing']): ModelConfig {
  return {
    id,
    provider,
    tier: 'standard',
    latency: 'standard',
    contextWindow: 128_000,
    maxOutputTokens: 4_096,
    capabilities: { json: true, vision: false },
    ...(pricing && { pricing }),
  };
}

const simStandard = model('sim-standard', 'simulated', { inputPerMTokUsd: 2.5, outputPerMTokUsd: 10 });
const gpt4o = model('gpt-4o', 'openai');

function catalog(options: { models?: ModelConfig[]; overrides?: Array<[string, ModelPrice]>; overridesRevision?: number } = {}) {
  return createPriceCatalog({
    models: options.models ?? [simStandard, gpt4o],
    providers,
    overrides: new Map(options.overrides ?? []),
    overridesRevision: options.overridesRevision ?? 0,
  });
}

describe('price catalog', () => {
  it('prices a configured model from its config pricing', () => {
    const prices = catalog();
    expect(prices.priceFor('sim-standard')).toEqual({
      modelId: 'sim-standard',
      price: { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 },
      source: 'config',
      catalogVersion: prices.version,
    });
  });

  it("prices gpt-4o from genai-prices' bundled OpenAI data ($2.50 in, $10 out per MTok)", () => {
    expect(catalog().priceFor('gpt-4o')).toMatchObject({
      price: { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 },
      source: 'catalog',
    });
  });

  it('falls back to the model id alone when the configured provider id is not one genai-prices knows', () => {
    const prices = catalog({ models: [model('gpt-4o-mini', 'my-gateway')] });
    expect(prices.priceFor('gpt-4o-mini')).toMatchObject({
      price: { inputMicroUsdPerMTok: 150_000, outputMicroUsdPerMTok: 600_000 },
      source: 'catalog',
    });
  });

  it('prices a tiered model at its top tier, so a long prompt cannot exceed the estimate', () => {
    // claude-sonnet-4-5: $3 / $15 per MTok, $6 / $22.50 once the prompt passes 200k tokens.
    expect(catalog().priceFor('claude-sonnet-4-5').price).toEqual({
      inputMicroUsdPerMTok: 6_000_000,
      outputMicroUsdPerMTok: 22_500_000,
    });
  });

  it('lets config pricing win over the bundled catalog', () => {
    const prices = catalog({ models: [model('gpt-4o', 'openai', { inputPerMTokUsd: 1, outputPerMTokUsd: 2 })] });
    expect(prices.priceFor('gpt-4o')).toMatchObject({
      price: { inputMicroUsdPerMTok: 1_000_000, outputMicroUsdPerMTok: 2_000_000 },
      source: 'config',
    });
  });

  it('lets an API override win over config and catalog', () => {
    const override = { inputMicroUsdPerMTok: 7, outputMicroUsdPerMTok: 8 };
    const prices = catalog({
      overrides: [
        ['sim-standard', override],
        ['gpt-4o', override],
      ],
    });
    expect(prices.priceFor('sim-standard')).toMatchObject({ price: override, source: 'override' });
    expect(prices.priceFor('gpt-4o')).toMatchObject({ price: override, source: 'override' });
  });

  it('refuses a model nobody priced, naming it and the two ways to fix it, instead of pricing it at zero', () => {
    const prices = catalog({ models: [model('sim-unpriced', 'simulated')] });
    expect(prices.tryPriceFor('sim-unpriced')).toBeNull();
    expect(prices.tryPriceFor('not-a-real-model')).toBeNull();
    const thrown = (() => {
      try {
        prices.priceFor('sim-unpriced');
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(thrown).toBeInstanceOf(UnknownPriceError);
    expect(thrown).toMatchObject({ modelId: 'sim-unpriced' });
    expect((thrown as Error).message).toMatch(/'sim-unpriced'.*pricing.*PUT \/v1\/pricing\/overrides\/sim-unpriced/s);
  });

  it('names the bundled data, the config prices and the overrides revision in its version', () => {
    expect(catalog({ overridesRevision: 3 }).version).toMatch(/^genai-prices@0\.1\.8\+cfg\.[0-9a-f]{8}\+ovr\.3$/);
  });

  it.each<[string, Parameters<typeof catalog>[0]]>([
    ['the overrides revision changes', { overridesRevision: 1 }],
    ['a config price changes', { models: [{ ...simStandard, pricing: { inputPerMTokUsd: 2.5, outputPerMTokUsd: 11 } }, gpt4o] }],
    [
      'a model gains config pricing',
      { models: [simStandard, { ...gpt4o, pricing: { inputPerMTokUsd: 1, outputPerMTokUsd: 1 } }] },
    ],
    ['a model moves to another provider', { models: [simStandard, { ...gpt4o, provider: 'my-gateway' }] }],
  ])('changes its version when %s', (_, changed) => {
    expect(catalog(changed).version).not.toBe(catalog().version);
  });

  it('keeps its version when only the order of models changes', () => {
    expect(catalog({ models: [gpt4o, simStandard] }).version).toBe(catalog().version);
  });

  it('lists every configured model and every overridden one, priced or not', () => {
    const override = { inputMicroUsdPerMTok: 1, outputMicroUsdPerMTok: 2 };
    const prices = catalog({
      models: [simStandard, gpt4o, model('sim-unpriced', 'simulated')],
      overrides: [['local-llama', override]],
    });
    expect(prices.list()).toEqual([
      {
        modelId: 'sim-standard',
        provider: 'simulated',
        price: { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 },
        source: 'config',
        catalogVersion: prices.version,
      },
      {
        modelId: 'gpt-4o',
        provider: 'openai',
        price: { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 },
        source: 'catalog',
        catalogVersion: prices.version,
      },
      { modelId: 'sim-unpriced', provider: 'simulated', price: null, source: null, catalogVersion: prices.version },
      { modelId: 'local-llama', provider: null, price: override, source: 'override', catalogVersion: prices.version },
    ]);
  });
});
