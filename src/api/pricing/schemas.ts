import { z } from 'zod';

export const modelIdParamsSchema = z
  .object({
    modelId: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:/@-]*$/, 'invalid model id'),
  })
  .strict();

export const priceOverrideBodySchema = z
  .object({
    inputPerMTokUsd: z.number().nonnegative().max(100_000).describe('USD per million input tokens'),
    outputPerMTokUsd: z.number().nonnegative().max(100_000).describe('USD per million output tokens'),
  })
  .strict()
  .meta({ id: 'PriceOverride' });

const priceSource = z.enum(['config', 'override', 'catalog']);

export const modelPriceSchema = z
  .object({
    modelId: z.string(),
    provider: z.string().nullable(),
    inputMicroUsdPerMTok: z.number().int().nullable(),
    outputMicroUsdPerMTok: z.number().int().nullable(),
    inputPerMTokUsd: z.number().nullable(),
    outputPerMTokUsd: z.number().nullable(),
    /** null when no source knows the model: runs on it are refused, never priced at zero. */
    source: priceSource.nullable(),
    catalogVersion: z.string(),
  })
  .meta({ id: 'ModelPrice' });

export const priceListSchema = z
  .object({ catalogVersion: z.string(), items: z.array(modelPriceSchema) })
  .meta({ id: 'PriceList' });
