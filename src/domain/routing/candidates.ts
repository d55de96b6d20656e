import { costMicroUsd, type ModelPrice } from '../pricing';
import type { BreakerState } from './circuit-breaker';
import { tierRank, type ModelTier, type RoutableModel } from './models';

/**
 * Why a model cannot take a request. A model gets the first reason in this order, so static misfits
 * (capabilities, sizes) are reported before price, cost ceiling and provider health: a model that
 * does not fit is never a failover target, whatever the state of its provider.
 */
export const candidateExclusions = [
  'json_unsupported',
  'vision_unsupported',
  'output_limit_exceeded',
  'context_window_exceeded',
  'unknown_price',
  'dearer_than_default',
  'provider_open',
] as const;
export type CandidateExclusion = (typeof candidateExclusions)[number];

export interface RouteCandidate {
  modelId: string;
  providerId: string;
  tier: ModelTier;
  eligible: boolean;
  excludedBecause?: CandidateExclusion;
  /** The output cap this request would run with on this model. */
  plannedOutputTokens: number;
  /** What admission would reserve on this model: every input token plus every planned output token. Absent without a price. */
  estimatedCostMicroUsd?: number;
}

export interface CandidateRequest {
  inputTokens: number;
  /** The output cap the caller insisted on, or null to let each model use up to `referenceOutputTokens`. */
  requiredOutputTokens: number | null;
  referenceOutputTokens: number;
  jsonMode: boolean;
  hasVision: boolean;
  prices: Readonly<Record<string, ModelPrice | null>>;
  providerHealth: Readonly<Record<string, BreakerState>>;
  /** Auxiliary work may not cost more than this model would for the same request. */
  costCeilingModelId: string | null;
}

/**
 * Assesses every configured model for one request, in config order. A model's price comes only from
 * `prices` (a missing or null entry is an unknown price: excluded, never free). A provider without a
 * breaker entry has reported nothing yet and counts as closed; a half-open provider counts as
 * available, because the call itself is how the breaker learns whether it recovered.
 */
export function assessCandidates(models: readonly RoutableModel[], request: CandidateRequest): RouteCandidate[] {
  const assessed = models.map((model) => assessStatically(model, request));
  const ceiling = costCeiling(models, assessed, request.costCeilingModelId);
  return assessed.map((candidate) => {
    if (candidate.excludedBecause) return candidate;
    if (ceiling && exceedsCeiling(candidate, ceiling)) return exclude(candidate, 'dearer_than_default');
    if (request.providerHealth[candidate.providerId] === 'open') return exclude(candidate, 'provider_open');
    return candidate;
  });
}

/**
 * With an explicit output cap every model must allow it; otherwise a model with a smaller cap than
 * the reference plans with its own, as the caller did not ask for more.
 */
export function plannedOutputTokens(model: RoutableModel, request: CandidateRequest): number {
  return request.requiredOutputTokens ?? Math.min(request.referenceOutputTokens, model.maxOutputTokens);
}

function assessStatically(model: RoutableModel, request: CandidateRequest): RouteCandidate {
  const outputTokens = plannedOutputTokens(model, request);
  const price = request.prices[model.id] ?? null;
  const candidate: RouteCandidate = {
    modelId: model.id,
    providerId: model.provider,
    tier: model.tier,
    eligible: true,
    plannedOutputTokens: outputTokens,
    ...(price ? { estimatedCostMicroUsd: costMicroUsd(price, { inputTokens: request.inputTokens, outputTokens }) } : {}),
  };
  if (request.jsonMode && !model.capabilities.json) return exclude(candidate, 'json_unsupported');
  if (request.hasVision && !model.capabilities.vision) return exclude(candidate, 'vision_unsupported');
  if (outputTokens > model.maxOutputTokens) return exclude(candidate, 'output_limit_exceeded');
  if (request.inputTokens + outputTokens > model.contextWindow) return exclude(candidate, 'context_window_exceeded');
  if (!price) return exclude(candidate, 'unknown_price');
  return candidate;
}

/**
 * The ceiling is the ceiling model's estimated cost for this very request (whether or not that model
 * could take it). Without a known price for it, no cost can be proven lower, so the ceiling falls
 * back to its tier: no model of a higher tier.
 */
type Ceiling = { kind: 'cost'; maxMicroUsd: number } | { kind: 'tier'; maxTier: ModelTier };

function costCeiling(
  models: readonly RoutableModel[],
  assessed: readonly RouteCandidate[],
  modelId: string | null,
): Ceiling | null {
  if (modelId === null) return null;
  const index = models.findIndex((model) => model.id === modelId);
  const ceilingModel = models[index];
  const cost = assessed[index]?.estimatedCostMicroUsd;
  if (!ceilingModel) throw new RangeError(`cost ceiling model '${modelId}' is not configured`);
  return cost === undefined ? { kind: 'tier', maxTier: ceilingModel.tier } : { kind: 'cost', maxMicroUsd: cost };
}

function exceedsCeiling(candidate: RouteCandidate, ceiling: Ceiling): boolean {
  if (ceiling.kind === 'tier') return tierRank(candidate.tier) > tierRank(ceiling.maxTier);
  return (candidate.estimatedCostMicroUsd ?? Infinity) > ceiling.maxMicroUsd;
}

function exclude(candidate: RouteCandidate, reason: CandidateExclusion): RouteCandidate {
  return { ...candidate, eligible: false, excludedBecause: reason };
}
