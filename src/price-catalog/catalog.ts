import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { calcPrice } from '@pydantic/genai-prices';
import type { ModelConfig, ProviderConfig } from '../config/schema';
import { usdPerMTokToMicro, type ModelPrice, type PriceSource } from '../domain/pricing';

/**
 * Where a model's price comes from, in precedence order: an operator's API override, the model's
 * `pricing` in config, then the price data bundled with @pydantic/genai-prices. Only the bundled data
 * is used — never its network updates — so the data changes only with the catalog version. One
 * exception follows the clock: a few bundled prices are scheduled by date or time of day (DeepSeek's
 * off-peak rates), and genai-prices applies the schedule for the moment of the lookup.
 */

const genaiPricesVersion = readGenaiPricesVersion();

export class UnknownPriceError extends Error {
  override readonly name = 'UnknownPriceError';
  constructor(readonly modelId: string) {
    super(
      `No price is known for model '${modelId}', and Palyra never treats a model as free. ` +
        `Add \`pricing: { inputPerMTokUsd, outputPerMTokUsd }\` to the model in the config file, ` +
        `or set one with PUT /v1/pricing/overrides/${encodeURIComponent(modelId)}.`,
    );
  }
}

export interface PriceAnswer {
  modelId: string;
  price: ModelPrice;
  source: PriceSource;
  catalogVersion: string;
}

export interface PriceCatalog {
  /** Changes whenever any price this catalog can answer with may have changed; reservations record it. */
  version: string;
  /** @throws UnknownPriceError */
  priceFor(modelId: string): PriceAnswer;
  tryPriceFor(modelId: string): PriceAnswer | null;
  list(): Array<{
    modelId: string;
    provider: string | null;
    price: ModelPrice | null;
    source: PriceSource | null;
    catalogVersion: string;
  }>;
}

export function createPriceCatalog(options: {
  models: ModelConfig[];
  providers: ProviderConfig[];
  overrides: ReadonlyMap<string, ModelPrice>;
  overridesRevision: number;
}): PriceCatalog {
  const { models, overrides, overridesRevision } = options;
  const modelsById = new Map(models.map((model) => [model.id, model]));
  const providerIds = new Set(options.providers.map((provider) => provider.id));
  const version = `genai-prices@${genaiPricesVersion}+cfg.${configPricesDigest(models)}+ovr.${overridesRevision}`;

  const lookUp = (modelId: string): { price: ModelPrice; source: PriceSource } | null => {
    const override = overrides.get(modelId);
    if (override) return { price: override, source: 'override' };
    const model = modelsById.get(modelId);
    if (model?.pricing) {
      return {
        price: {
          inputMicroUsdPerMTok: usdPerMTokToMicro(model.pricing.inputPerMTokUsd),
          outputMicroUsdPerMTok: usdPerMTokToMicro(model.pricing.outputPerMTokUsd),
        },
        source: 'config',
      };
    }
    const providerId = model && providerIds.has(model.provider) ? model.provider : undefined;
    const price = bundledPrice(modelId, providerId);
    return price && { price, source: 'catalog' };
  };

  const tryPriceFor = (modelId: string): PriceAnswer | null => {
    const found = lookUp(modelId);
    return found && { modelId, ...found, catalogVersion: version };
  };

  return {
    version,
    tryPriceFor,
    priceFor(modelId) {
      const answer = tryPriceFor(modelId);
      if (!answer) throw new UnknownPriceError(modelId);
      return answer;
    },
    list() {
      const overriddenOnly = [...overrides.keys()].filter((id) => !modelsById.has(id)).sort();
      return [...models.map((model) => model.id), ...overriddenOnly].map((modelId) => {
        const answer = tryPriceFor(modelId);
        return {
          modelId,
          provider: modelsById.get(modelId)?.provider ?? null,
          price: answer?.price ?? null,
          source: answer?.source ?? null,
          catalogVersion: version,
        };
      });
    },
  };
}

/**
 * The bundled genai-prices price, tried under the model's configured provider id first (a Palyra
 * provider named `openai` or `groq` selects that vendor's price list), then by model id alone.
 *
 * Prices are read at one million input tokens for both directions. Some models (Claude, Gemini) are
 * tiered: past a prompt-size threshold (128k–512k tokens) every token, input and output, costs more.
 * A flat ModelPrice cannot express that, so it takes the top tier — an upper bound for any prompt —
 * rather than the base tier, which would let a long prompt overspend a hard limit. Operators who want
 * the base rate set it in config or as an override.
 */
function bundledPrice(modelId: string, providerId: string | undefined): ModelPrice | null {
  const attempts = providerId === undefined ? [undefined] : [providerId, undefined];
  for (const attempt of attempts) {
    const options = attempt === undefined ? undefined : { providerId: attempt };
    const inputOnly = calcPrice({ input_tokens: 1_000_000, output_tokens: 0 }, modelId, options);
    const inputAndOutput = calcPrice({ input_tokens: 1_000_000, output_tokens: 1_000_000 }, modelId, options);
    if (!inputOnly || !inputAndOutput) continue;
    const price = {
      inputMicroUsdPerMTok: usdPerMTokToMicro(inputOnly.input_price),
      outputMicroUsdPerMTok: usdPerMTokToMicro(inputAndOutput.output_price),
    };
    // genai-prices also lists models it prices per image, second or request; at zero per token they
    // would pass as free, which Palyra never allows (docs/architecture.md, Money).
    if (price.inputMicroUsdPerMTok === 0 && price.outputMicroUsdPerMTok === 0) return null;
    return price;
  }
  return null;
}

/**
 * Every config input that can change a price: each model's own pricing and its provider (which
 * selects the bundled price list). Sorted by model id so reordering the config file changes nothing.
 */
function configPricesDigest(models: ModelConfig[]): string {
  const canonical = [...models]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((model) => [
      model.id,
      model.provider,
      model.pricing ? [model.pricing.inputPerMTokUsd, model.pricing.outputPerMTokUsd] : null,
    ]);
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex').slice(0, 8);
}

/**
 * The installed genai-prices version names the bundled price data. Its `exports` map hides
 * package.json, so walk up from the resolved entry point to the package's own manifest.
 */
function readGenaiPricesVersion(): string {
  const packageName = '@pydantic/genai-prices';
  let dir = path.dirname(require.resolve(packageName));
  for (;;) {
    const manifestPath = path.join(dir, 'package.json');
    if (fs.existsSync(manifestPath)) {
      const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as { name?: string; version?: string };
      if (manifest.name === packageName && manifest.version) return manifest.version;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the package.json of ${packageName}`);
    dir = parent;
  }
}
