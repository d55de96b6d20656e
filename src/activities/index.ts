import { createLedgerActivities, type LedgerActivityDeps } from './ledger';
import { createProviderActivities, type ProviderActivityDeps } from './provider';
import { createRoutingActivities, type RoutingActivityDeps } from './routing';

export type ActivityDeps = ProviderActivityDeps & LedgerActivityDeps & RoutingActivityDeps;

/** All activities the worker registers, built over injected clients. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createProviderActivities(deps),
    ...createLedgerActivities(deps),
    ...createRoutingActivities(deps),
  };
}

export type PalyraActivities = ReturnType<typeof createActivities>;
