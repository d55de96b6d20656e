import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { PalyraConfig } from '../../config';
import { usdPerMTokToMicro, type ModelPrice } from '../../domain/pricing';
import type { LedgerRepository } from '../../ledger';
import { loadPriceCatalog } from '../../price-catalog/load';
import { errorResponses } from '../errors';
import { bodyFacts, fromParams } from '../plugins/audit';
import { modelIdParamsSchema, modelPriceSchema, priceListSchema, priceOverrideBodySchema } from './schemas';

function view(entry: {
  modelId: string;
  provider: string | null;
  price: ModelPrice | null;
  source: 'config' | 'override' | 'catalog' | null;
  catalogVersion: string;
}) {
  return {
    modelId: entry.modelId,
    provider: entry.provider,
    inputMicroUsdPerMTok: entry.price?.inputMicroUsdPerMTok ?? null,
    outputMicroUsdPerMTok: entry.price?.outputMicroUsdPerMTok ?? null,
    inputPerMTokUsd: entry.price ? entry.price.inputMicroUsdPerMTok / 1e6 : null,
    outputPerMTokUsd: entry.price ? entry.price.outputMicroUsdPerMTok / 1e6 : null,
    source: entry.source,
    catalogVersion: entry.catalogVersion,
  };
}

export const pricingRoutes: FastifyPluginAsyncZod<{ ledger: LedgerRepository; config: PalyraConfig }> = async (
  app,
  { ledger, config },
) => {
  app.get(
    '/v1/pricing/models',
    {
      config: { auth: { role: 'operator' } },
      schema: {
        summary: 'The price catalog',
        description: 'Every configured or overridden model with its price, where the price comes from, and the catalog version.',
        tags: ['pricing'],
        security: [{ bearer: [] }],
        response: { 200: priceListSchema, ...errorResponses(401, 403, 429, 500, 503) },
      },
    },
    async () => {
      const catalog = await loadPriceCatalog(ledger, config);
      return { catalogVersion: catalog.version, items: catalog.list().map(view) };
    },
  );

  app.put(
    '/v1/pricing/overrides/:modelId',
    {
      config: {
        auth: { role: 'admin', allTenants: true },
        audit: {
          action: 'pricing.override.put',
          target: fromParams('modelId'),
          detail: bodyFacts('inputPerMTokUsd', 'outputPerMTokUsd'),
        },
      },
      schema: {
        summary: "Override a model's price",
        description: 'Takes precedence over config and the bundled catalog; changes the catalog version.',
        tags: ['pricing'],
        security: [{ bearer: [] }],
        params: modelIdParamsSchema,
        body: priceOverrideBodySchema,
        response: { 200: modelPriceSchema, ...errorResponses(400, 401, 403, 429, 500, 503) },
      },
    },
    async (request) => {
      await ledger.putPriceOverride(request.params.modelId, {
        inputMicroUsdPerMTok: usdPerMTokToMicro(request.body.inputPerMTokUsd),
        outputMicroUsdPerMTok: usdPerMTokToMicro(request.body.outputPerMTokUsd),
      });
      const catalog = await loadPriceCatalog(ledger, config);
      const answer = catalog.priceFor(request.params.modelId);
      const model = config.models.find((m) => m.id === request.params.modelId);
      return view({ ...answer, provider: model?.provider ?? null });
    },
  );
};
