import type { PalyraConfig } from '../config';
import type { LedgerRepository } from '../ledger';
import { createPriceCatalog, type PriceCatalog } from './catalog';

/** The catalog as of now: config prices plus the overrides stored in the ledger. */
export async function loadPriceCatalog(
  repo: LedgerRepository,
  config: Pick<PalyraConfig, 'models' | 'providers'>,
): Promise<PriceCatalog> {
  const { overrides, revision } = await repo.listPriceOverrides();
  return createPriceCatalog({ models: config.models, providers: config.providers, overrides, overridesRevision: revision });
}
