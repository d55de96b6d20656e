import type { RouteCandidate } from './candidates';
import type { ComplexityAssessment } from './complexity';
import { tierRank, type ModelTier, type RoutableModel } from './models';
import type { TaskClass } from './task-class';

/**
 * One plain sentence per routing rule that fired, naming the models and the numbers. Numbers are
 * grouped by hand rather than with toLocaleString, whose output depends on the host's locale data.
 */
export function formatCount(value: number): string {
  return String(value).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function formatMicroUsd(value: number | undefined): string {
  return value === undefined ? 'an unknown amount' : `${formatCount(value)} µUSD`;
}

export interface ExclusionContext {
  inputTokens: number;
  taskClass: TaskClass;
  ceilingModel: RoutableModel;
  ceilingCostMicroUsd: number | undefined;
}

export function exclusionSentence(candidate: RouteCandidate, model: RoutableModel, context: ExclusionContext): string {
  const name = candidate.modelId;
  switch (candidate.excludedBecause) {
    case 'json_unsupported':
      return `${name} is excluded: it does not support JSON mode, which this request asks for.`;
    case 'vision_unsupported':
      return `${name} is excluded: it cannot read images, and this request has vision inputs.`;
    case 'output_limit_exceeded':
      return `${name} is excluded: it writes at most ${formatCount(model.maxOutputTokens)} output tokens and this request asks for ${formatCount(candidate.plannedOutputTokens)}.`;
    case 'context_window_exceeded':
      return `${name} is excluded: ${formatCount(context.inputTokens)} input + ${formatCount(candidate.plannedOutputTokens)} output tokens exceed its ${formatCount(model.contextWindow)}-token context window.`;
    case 'unknown_price':
      return `${name} is excluded: it has no known price, and a model without a price is never treated as free.`;
    case 'dearer_than_default':
      return context.ceilingCostMicroUsd === undefined
        ? `${name} is excluded: the default model ${context.ceilingModel.id} has no known price, so ${context.taskClass} work is held to its ${context.ceilingModel.tier} tier and ${name} is ${model.tier}.`
        : `${name} is excluded: at ${formatMicroUsd(candidate.estimatedCostMicroUsd)} it would cost more than the default model ${context.ceilingModel.id} (${formatMicroUsd(context.ceilingCostMicroUsd)}), and ${context.taskClass} work never does.`;
    case 'provider_open':
      return `${name} is excluded for now: the circuit breaker of its provider ${candidate.providerId} is open.`;
    case undefined:
      throw new Error(`${name} is not excluded`);
  }
}

/** Names the sizes; the largest window only helps when size is what excluded every model. */
export function noModelFitsSentence(
  inputTokens: number,
  outputTokens: number,
  models: readonly RoutableModel[],
  candidates: readonly RouteCandidate[],
): string {
  const request = `No configured model can take this request of ${formatCount(inputTokens)} input + up to ${formatCount(outputTokens)} output tokens (${formatCount(inputTokens + outputTokens)} in all)`;
  const sizeOnly = candidates.every(
    (c) => c.excludedBecause === 'context_window_exceeded' || c.excludedBecause === 'output_limit_exceeded',
  );
  if (!sizeOnly) return `${request}; each model's exclusion is given above.`;
  const largest = models.reduce((best, model) => (model.contextWindow > best.contextWindow ? model : best));
  return `${request}; the largest context window is ${largest.id}'s ${formatCount(largest.contextWindow)} tokens.`;
}

export function noHealthyModelSentence(fitting: readonly RouteCandidate[]): string {
  const names = fitting.map((candidate) => `${candidate.modelId} (${candidate.providerId})`).join(', ');
  return `Every model that fits this request has an open provider circuit breaker: ${names}.`;
}

export function keptSentence(modelId: string): string {
  return `${modelId} was requested and can take this request, so it is kept.`;
}

export function tierPickSentence(pick: RouteCandidate, tier: ModelTier, why: string): string {
  return tierRank(pick.tier) >= tierRank(tier)
    ? `${why}; ${pick.modelId} (${pick.tier}, ${formatMicroUsd(pick.estimatedCostMicroUsd)}) is the cheapest fitting model of at least the ${tier} tier.`
    : `${why}; no fitting model is of the ${tier} tier or above, so ${pick.modelId} (${pick.tier}, ${formatMicroUsd(pick.estimatedCostMicroUsd)}) is the best that fits.`;
}

export function complexityReason(complexity: ComplexityAssessment, maxScore: number): string {
  const extras = [complexity.jsonMode ? 'JSON mode' : null, complexity.hasVision ? 'vision inputs' : null].filter(Boolean);
  const signals = [`about ${formatCount(complexity.sizeTokens)} tokens`, ...extras].join(', ');
  return `No model was requested and complexity ${complexity.score}/${maxScore} (${signals}) suggests a ${complexity.suggestedTier}-tier model`;
}

export function ineligibleReason(requested: RouteCandidate): string {
  return `The requested ${requested.modelId} cannot take this request`;
}

export function failoverSentence(from: RouteCandidate, to: RouteCandidate): string {
  return `${from.modelId}'s provider ${from.providerId} has an open circuit breaker, so the run fails over to ${to.modelId} (provider ${to.providerId}).`;
}

export function downgradeSentence(from: RouteCandidate, to: RouteCandidate): string {
  return `A budget needs a cheaper model, so the run moves from ${from.modelId} (${formatMicroUsd(from.estimatedCostMicroUsd)}) to the cheapest fitting model ${to.modelId} (${formatMicroUsd(to.estimatedCostMicroUsd)}).`;
}

/**
 * Says what happens instead of a downgrade: a model that can take the request stays, for admission
 * to clamp (or refuse, below its minimum of one output token); one that cannot is refused.
 */
export function noCheaperSentence(current: RouteCandidate): string {
  const need = `A budget needs a cheaper model than ${current.modelId} (${formatMicroUsd(current.estimatedCostMicroUsd)}), but no available model that fits this request costs less`;
  return current.eligible
    ? `${need}, so the run stays on ${current.modelId}: admission clamps its output to what the budget still holds, or refuses it (402 budget_exceeded) when not even the prompt and one output token fit.`
    : `${need}, and ${current.modelId} cannot take it itself (its exclusion is given above), so the run is refused.`;
}

export function downgradeAppliedSentence(mode: 'suggest' | 'enforced', from: string, to: string): string {
  return mode === 'suggest'
    ? `A budget action is the operator's instruction, not a routing suggestion, so mode suggest applies the downgrade: the run moves from ${from} to ${to}.`
    : `Mode enforced applies the budget downgrade: the run moves from ${from} to ${to}.`;
}

export function downgradeRecordedSentence(from: string, to: string): string {
  return `Mode dry_run only records the budget downgrade to ${to}; the run stays on ${from}, which admission still holds to the budget.`;
}
