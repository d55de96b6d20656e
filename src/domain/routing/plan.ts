import { assessCandidates, type RouteCandidate } from './candidates';
import { bestForTier, cheapest, eligibleCost } from './choose';
import { assessComplexity, maxComplexityScore, type ComplexityAssessment } from './complexity';
import type { BudgetStatus, RoutingAction, RoutingDecision, RoutingInput, RoutingMode, RoutingReasonCode } from './decision';
import * as explain from './explain';
import { requireValidRoutingInput } from './input-checks';
import type { RoutableModel } from './models';
import { isAuxiliaryTaskClass } from './task-class';

interface Finding {
  code: RoutingReasonCode;
  sentence: string;
}

/** What routing would run and why, before the mode decides whether it is applied. */
interface Recommendation {
  candidate: RouteCandidate | null;
  action: RoutingAction;
  findings: Finding[];
  /** The candidate is a `downgrade` budget's cheaper model: an operator's instruction, which `suggest` applies too. */
  budgetDowngrade?: true;
}

/** The request as routing sees it once the defaults are resolved. */
interface RoutingContext {
  input: RoutingInput;
  /** The model the run uses unless routing moves it: the requested model, else the default. */
  baselineId: string;
  explicitRequest: boolean;
  complexity: ComplexityAssessment;
  candidates: RouteCandidate[];
}

/**
 * Plans which model a run uses (docs/architecture.md, Runs). Rules, in order:
 * 1. every model is assessed (capabilities, output cap, context-window fit, price, the auxiliary cost
 *    ceiling, provider health) and the first misfit excludes it, so a model too small for the prompt
 *    is never a failover target;
 * 2. a `downgrade` budget status moves the run to the cheapest model that can take it; when nothing
 *    that can take it costs less, the run stays on its model for admission to clamp or refuse, or is
 *    refused here when that model cannot take the request itself;
 * 3. otherwise an explicitly requested model that can take it is kept; one that cannot is replaced by
 *    the best model of at least its tier; without a request, the complexity's tier decides;
 * 4. a preferred model whose provider breaker is open fails over to the best healthy model of its tier;
 * 5. `blocked` and `approval_required` budget statuses become the action;
 * 6. the mode decides whether the recommendation becomes the selected model: `enforced` applies it,
 *    `suggest` applies only a budget downgrade (the operator's instruction, not a routing suggestion),
 *    `dry_run` applies nothing.
 * Ordinary inputs never throw: a request nothing can take is a `blocked` decision.
 */
export function planRoute(input: RoutingInput): RoutingDecision {
  requireValidRoutingInput(input);
  const context = routingContext(input);
  const mode = input.modeOverride ?? input.mode;
  const routed = recommend(context);
  const recommendedModel = routed.candidate?.modelId ?? null;
  const applied = appliesRecommendation(mode, routed);
  const selectedModel = applied && recommendedModel !== null ? recommendedModel : context.baselineId;
  const recommendation = withBudgetAction(routed, input.budgetStatus, selectedModel);
  const findings = [
    ...modeOverrideFindings(input),
    ...exclusionFindings(context),
    ...recommendation.findings,
    ...modeFindings(mode, context.baselineId, recommendedModel, routed.budgetDowngrade === true),
  ];
  return {
    taskClass: input.taskClass,
    mode,
    modeSource: input.modeOverride != null ? 'request' : 'config',
    requestedModel: input.requestedModel ?? null,
    defaultModel: input.defaultModel,
    recommendedModel,
    selectedModel,
    action: recommendation.action,
    reasonCodes: [...new Set(findings.map((finding) => finding.code))],
    explanations: findings.map((finding) => finding.sentence),
    candidates: context.candidates,
    complexity: context.complexity,
  };
}

function routingContext(input: RoutingInput): RoutingContext {
  const baselineId = input.requestedModel ?? input.defaultModel;
  const candidates = assessCandidates(input.models, {
    inputTokens: input.inputTokens,
    requiredOutputTokens: input.maxOutputTokens ?? null,
    referenceOutputTokens: modelById(input.models, baselineId).maxOutputTokens,
    jsonMode: input.jsonMode,
    hasVision: input.hasVision,
    prices: input.prices,
    providerHealth: input.providerHealth,
    costCeilingModelId: isAuxiliaryTaskClass(input.taskClass) ? input.defaultModel : null,
  });
  return {
    input,
    baselineId,
    explicitRequest: input.requestedModel != null,
    complexity: assessComplexity(input),
    candidates,
  };
}

function recommend(context: RoutingContext): Recommendation {
  const { candidates, input } = context;
  // Fitting ignores provider health; healthy does not. Health is judged last, so only fitting models fail over.
  const fitting = candidates.filter((candidate) => candidate.eligible || candidate.excludedBecause === 'provider_open');
  const healthy = candidates.filter((candidate) => candidate.eligible);
  if (fitting.length === 0) {
    const outputTokens = input.maxOutputTokens ?? modelById(input.models, context.baselineId).maxOutputTokens;
    return blocked('no_model_fits', explain.noModelFitsSentence(input.inputTokens, outputTokens, input.models, candidates));
  }
  if (healthy.length === 0) return blocked('no_healthy_model', explain.noHealthyModelSentence(fitting));
  if (input.budgetStatus === 'downgrade') return downgrade(context, healthy);

  const preferred = preferredCandidate(context, fitting);
  if (preferred.candidate.eligible) return { candidate: preferred.candidate, action: 'proceed', findings: preferred.findings };
  const target = bestForTier(healthy, preferred.candidate.tier);
  return {
    candidate: target,
    action: 'failover',
    findings: [...preferred.findings, { code: 'failover', sentence: explain.failoverSentence(preferred.candidate, target) }],
  };
}

/** The model routing would run if every provider were healthy. */
function preferredCandidate(
  context: RoutingContext,
  fitting: RouteCandidate[],
): { candidate: RouteCandidate; findings: Finding[] } {
  const baseline = candidateById(context.candidates, context.baselineId);
  if (context.explicitRequest && fitting.includes(baseline)) {
    // A kept model whose provider is down gets the failover sentence instead.
    const findings: Finding[] = baseline.eligible
      ? [{ code: 'requested_model_kept', sentence: explain.keptSentence(baseline.modelId) }]
      : [];
    return { candidate: baseline, findings };
  }
  if (context.explicitRequest) {
    const pick = bestForTier(fitting, baseline.tier);
    const sentence = explain.tierPickSentence(pick, baseline.tier, explain.ineligibleReason(baseline));
    return { candidate: pick, findings: [{ code: 'requested_model_ineligible', sentence }] };
  }
  const tier = context.complexity.suggestedTier;
  const pick = bestForTier(fitting, tier);
  const sentence = explain.tierPickSentence(pick, tier, explain.complexityReason(context.complexity, maxComplexityScore));
  return { candidate: pick, findings: [{ code: 'complexity_tier', sentence }] };
}

/**
 * The budget asked for a cheaper model than the one it was evaluated on (the baseline). When nothing
 * that can take the request costs less, a downgrade cannot help and the action is `blocked`: a
 * baseline that can take the request stays the candidate, and admission clamps its output to what
 * the budget holds or refuses it; a baseline that cannot (its provider is down, it does not fit),
 * whose alternatives all cost more, leaves no candidate and the run is refused (`chosenRoute`).
 */
function downgrade(context: RoutingContext, healthy: RouteCandidate[]): Recommendation {
  const baseline = candidateById(context.candidates, context.baselineId);
  const target = cheapest(healthy);
  const baselineCost = baseline.estimatedCostMicroUsd;
  if (baselineCost !== undefined && eligibleCost(target) >= baselineCost) {
    return {
      candidate: baseline.eligible ? baseline : null,
      action: 'blocked',
      findings: [{ code: 'no_cheaper_model', sentence: explain.noCheaperSentence(baseline) }],
    };
  }
  return {
    candidate: target,
    action: 'degrade',
    findings: [{ code: 'budget_downgrade', sentence: explain.downgradeSentence(baseline, target) }],
    budgetDowngrade: true,
  };
}

/** A budget downgrade is the operator's instruction, so `suggest` applies it like `enforced` does; `dry_run` never applies anything. */
function appliesRecommendation(mode: RoutingMode, recommendation: Recommendation): boolean {
  switch (mode) {
    case 'enforced':
      return true;
    case 'suggest':
      return recommendation.budgetDowngrade === true;
    case 'dry_run':
      return false;
  }
}

/** Budget statuses that do not change the model still change what the run may do; a block always wins. */
function withBudgetAction(recommendation: Recommendation, budgetStatus: BudgetStatus, selectedModel: string): Recommendation {
  const add = (action: RoutingAction, finding: Finding): Recommendation => ({
    ...recommendation,
    action: recommendation.action === 'blocked' ? 'blocked' : action,
    findings: [...recommendation.findings, finding],
  });
  switch (budgetStatus) {
    case 'ok':
    case 'downgrade':
      return recommendation;
    case 'soft_limit':
      return add(recommendation.action, {
        code: 'budget_soft_limit',
        sentence: 'A budget is over its soft limit; routing carries on.',
      });
    case 'hard_limit':
      return add(recommendation.action, {
        code: 'budget_hard_limit',
        sentence: 'A budget window has reached its hard limit; admission decides whether this request may still run.',
      });
    case 'blocked':
      return add('blocked', { code: 'budget_blocked', sentence: `A budget policy blocks this request on ${selectedModel}.` });
    case 'approval_required':
      return add('approval_required', {
        code: 'budget_approval_required',
        sentence: `A budget policy requires an approval before this request may run on ${selectedModel}.`,
      });
  }
}

function modeOverrideFindings(input: RoutingInput): Finding[] {
  if (input.modeOverride == null || input.modeOverride === input.mode) return [];
  const sentence = `This request asked for routing mode ${input.modeOverride}, which replaces the configured ${input.mode}.`;
  return [{ code: 'mode_overridden', sentence }];
}

function exclusionFindings(context: RoutingContext): Finding[] {
  const { input, candidates } = context;
  const ceilingModel = modelById(input.models, input.defaultModel);
  const exclusionContext: explain.ExclusionContext = {
    inputTokens: input.inputTokens,
    taskClass: input.taskClass,
    ceilingModel,
    ceilingCostMicroUsd: candidateById(candidates, ceilingModel.id).estimatedCostMicroUsd,
  };
  return candidates.flatMap((candidate) =>
    candidate.excludedBecause
      ? [
          {
            code: candidate.excludedBecause,
            sentence: explain.exclusionSentence(candidate, modelById(input.models, candidate.modelId), exclusionContext),
          },
        ]
      : [],
  );
}

function modeFindings(
  mode: RoutingMode,
  baselineId: string,
  recommendedModel: string | null,
  budgetDowngrade: boolean,
): Finding[] {
  if (recommendedModel === null || recommendedModel === baselineId) return [];
  if (budgetDowngrade) {
    return mode === 'dry_run'
      ? [{ code: 'recommendation_not_applied', sentence: explain.downgradeRecordedSentence(baselineId, recommendedModel) }]
      : [{ code: 'budget_action_applied', sentence: explain.downgradeAppliedSentence(mode, baselineId, recommendedModel) }];
  }
  switch (mode) {
    case 'enforced':
      return [
        {
          code: 'recommendation_applied',
          sentence: `Mode enforced applies the recommendation: the run moves from ${baselineId} to ${recommendedModel}.`,
        },
      ];
    case 'suggest':
      return [
        {
          code: 'recommendation_not_applied',
          sentence: `Mode suggest keeps ${baselineId} selected; ${recommendedModel} is only recommended.`,
        },
      ];
    case 'dry_run':
      return [
        {
          code: 'recommendation_not_applied',
          sentence: `Mode dry_run only records the recommendation ${recommendedModel}; the run stays on ${baselineId}.`,
        },
      ];
  }
}

function blocked(code: RoutingReasonCode, sentence: string): Recommendation {
  return { candidate: null, action: 'blocked', findings: [{ code, sentence }] };
}

function modelById(models: readonly RoutableModel[], modelId: string): RoutableModel {
  const model = models.find((candidate) => candidate.id === modelId);
  if (!model) throw new RangeError(`model '${modelId}' is not configured`);
  return model;
}

function candidateById(candidates: readonly RouteCandidate[], modelId: string): RouteCandidate {
  const candidate = candidates.find((entry) => entry.modelId === modelId);
  if (!candidate) throw new RangeError(`model '${modelId}' has no routing candidate`);
  return candidate;
}
