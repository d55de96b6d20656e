import { createLedgerActivities, type LedgerActivityDeps } from './ledger';
import { createProviderActivities, type ProviderActivityDeps } from './provider';

export type ActivityDeps = ProviderActivityDeps & LedgerActivityDeps;

/** All activities the worker registers, built over injected clients. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createProviderActivities(deps),
    ...createLedgerActivities(deps),
  };
}

export type PalyraActivities = ReturnType<typeof createActivities>;
