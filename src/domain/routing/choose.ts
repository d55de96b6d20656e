import type { RouteCandidate } from './candidates';
import { tierRank, type ModelTier } from './models';

/**
 * Choosing among candidates that can all take the request. Every such candidate has a price, so
 * `estimatedCostMicroUsd` is set. Ties go to the lower tier, then to config order (the sort is stable),
 * so operators decide ties by the order they list models in.
 */
export function cheapest(candidates: readonly RouteCandidate[]): RouteCandidate {
  const [first] = [...candidates].sort(byCostThenTier);
  if (!first) throw new RangeError('cannot choose among no candidates');
  return first;
}

/**
 * The cheapest candidate of at least `minimumTier`; when none is that good, the cheapest of the
 * highest tier there is, so a request is served as close to the quality it needs as possible.
 */
export function bestForTier(candidates: readonly RouteCandidate[], minimumTier: ModelTier): RouteCandidate {
  const goodEnough = candidates.filter((candidate) => tierRank(candidate.tier) >= tierRank(minimumTier));
  if (goodEnough.length > 0) return cheapest(goodEnough);
  const highestRank = Math.max(...candidates.map((candidate) => tierRank(candidate.tier)));
  return cheapest(candidates.filter((candidate) => tierRank(candidate.tier) === highestRank));
}

/** An eligible candidate always has a price; one without is a bug upstream, not a free model. */
export function eligibleCost(candidate: RouteCandidate): number {
  if (candidate.estimatedCostMicroUsd === undefined) throw new RangeError(`${candidate.modelId} has no estimated cost`);
  return candidate.estimatedCostMicroUsd;
}

function byCostThenTier(a: RouteCandidate, b: RouteCandidate): number {
  return eligibleCost(a) - eligibleCost(b) || tierRank(a.tier) - tierRank(b.tier);
}
