import { createProviderActivities, type ProviderActivityDeps } from './provider';

export type ActivityDeps = ProviderActivityDeps;

/** All activities the worker registers, built over injected clients. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createProviderActivities(deps),
  };
}

export type PalyraActivities = ReturnType<typeof createActivities>;
