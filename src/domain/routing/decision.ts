import type { PolicyStatus } from '../budget/evaluate';
import type { ModelPrice } from '../pricing';
import { candidateExclusions, type RouteCandidate } from './candidates';
import type { BreakerState } from './circuit-breaker';
import type { ComplexityAssessment } from './complexity';
import type { RoutableModel } from './models';
import type { TaskClass } from './task-class';

/**
 * suggest: recommend, but run the requested model, except that a `downgrade` budget is applied.
 * dry_run: record the recommendation only (admission still holds the run to its budgets).
 * enforced: run the recommended model.
 */
export const routingModes = ['suggest', 'dry_run', 'enforced'] as const;
export type RoutingMode = (typeof routingModes)[number];

export const routingActions = ['proceed', 'degrade', 'failover', 'approval_required', 'blocked'] as const;
export type RoutingAction = (typeof routingActions)[number];

/** The run's budget standing as `evaluateBudgets` reports it (the most severe applicable status). */
export type BudgetStatus = PolicyStatus;

export const routingReasonCodes = [
  'mode_overridden',
  ...candidateExclusions,
  'requested_model_kept',
  'requested_model_ineligible',
  'complexity_tier',
  'failover',
  'budget_downgrade',
  'no_cheaper_model',
  'budget_blocked',
  'budget_approval_required',
  'budget_soft_limit',
  'budget_hard_limit',
  'no_model_fits',
  'no_healthy_model',
  'recommendation_applied',
  'recommendation_not_applied',
  /** A `downgrade` budget moved the run, in `suggest` as in `enforced` mode: a budget action is not a suggestion. */
  'budget_action_applied',
] as const;
export type RoutingReasonCode = (typeof routingReasonCodes)[number];

/** Everything routing needs, as plain JSON so it can travel in workflow arguments and history. */
export interface RoutingInput {
  taskClass: TaskClass;
  /** The configured mode (`routing.mode`). */
  mode: RoutingMode;
  /** A mode the request asked for; it replaces the configured one. */
  modeOverride?: RoutingMode | null;
  /** The model the caller named; without one the run would use `defaultModel`. */
  requestedModel?: string | null;
  defaultModel: string;
  models: readonly RoutableModel[];
  /** Integer micro-USD prices by model id; a missing or null entry is an unknown price. */
  prices: Readonly<Record<string, ModelPrice | null>>;
  /** One count for every model: Palyra counts with one tokenizer whatever the model, so per-model counts would be the same number. */
  inputTokens: number;
  /**
   * The output cap the caller asked for; every candidate must allow it. Without one, each model plans
   * with the requested (or default) model's cap, or its own when that is smaller.
   */
  maxOutputTokens?: number | null;
  jsonMode: boolean;
  hasVision: boolean;
  promptChars: number;
  budgetStatus: BudgetStatus;
  /** Breaker state by provider id; a provider with no entry counts as closed. */
  providerHealth: Readonly<Record<string, BreakerState>>;
}

export interface RoutingDecision {
  taskClass: TaskClass;
  mode: RoutingMode;
  modeSource: 'config' | 'request';
  /** As the caller named it; null when it named none (the run would use `defaultModel`). */
  requestedModel: string | null;
  defaultModel: string;
  /**
   * null when no model can take the request, or when a downgrade budget finds nothing cheaper and the
   * requested (or default) model cannot take it itself (the action is then `blocked`).
   */
  recommendedModel: string | null;
  /**
   * The model the run uses: the recommendation in `enforced` mode and a budget downgrade in `suggest`
   * mode too, otherwise the requested (or default) model.
   */
  selectedModel: string;
  action: RoutingAction;
  /** Distinct codes of the rules that fired, in the order they fired. */
  reasonCodes: RoutingReasonCode[];
  /** One sentence per rule that fired. */
  explanations: string[];
  candidates: RouteCandidate[];
  complexity: ComplexityAssessment;
}
