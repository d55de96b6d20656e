import { breakerStates } from './circuit-breaker';
import { routingModes, type BudgetStatus, type RoutingInput } from './decision';
import { modelTiers, type RoutableModel } from './models';
import { taskClasses } from './task-class';

const budgetStatuses: readonly BudgetStatus[] = ['ok', 'soft_limit', 'hard_limit', 'blocked', 'approval_required', 'downgrade'];

/**
 * Inputs that break these checks are programmer errors (the API validates requests and the config
 * loader validates models before routing runs), so they throw rather than become a decision.
 */
export function requireValidRoutingInput(input: RoutingInput): void {
  requireOneOf('taskClass', input.taskClass, taskClasses);
  requireOneOf('mode', input.mode, routingModes);
  if (input.modeOverride != null) requireOneOf('modeOverride', input.modeOverride, routingModes);
  requireOneOf('budgetStatus', input.budgetStatus, budgetStatuses);
  requireCount('inputTokens', input.inputTokens, 0);
  requireCount('promptChars', input.promptChars, 0);
  if (input.maxOutputTokens != null) requireCount('maxOutputTokens', input.maxOutputTokens, 1);
  requireValidModels(input.models);
  requireKnownModel('defaultModel', input.defaultModel, input.models);
  if (input.requestedModel != null) requireKnownModel('requestedModel', input.requestedModel, input.models);
  for (const [providerId, state] of Object.entries(input.providerHealth)) {
    requireOneOf(`providerHealth.${providerId}`, state, breakerStates);
  }
}

function requireValidModels(models: readonly RoutableModel[]): void {
  if (models.length === 0) throw new RangeError('models must list at least one model');
  const seen = new Set<string>();
  for (const model of models) {
    if (seen.has(model.id)) throw new RangeError(`duplicate model id '${model.id}'`);
    seen.add(model.id);
    requireOneOf(`models.${model.id}.tier`, model.tier, modelTiers);
    requireCount(`models.${model.id}.contextWindow`, model.contextWindow, 1);
    requireCount(`models.${model.id}.maxOutputTokens`, model.maxOutputTokens, 1);
  }
}

function requireKnownModel(field: string, modelId: string, models: readonly RoutableModel[]): void {
  if (!models.some((model) => model.id === modelId)) {
    throw new RangeError(`${field} '${modelId}' is not a configured model (configured: ${models.map((m) => m.id).join(', ')})`);
  }
}

function requireOneOf<T extends string>(field: string, value: string, allowed: readonly T[]): void {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new RangeError(`${field} must be one of ${allowed.join(', ')}, got '${value}'`);
  }
}

function requireCount(field: string, value: number, minimum: number): void {
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new RangeError(`${field} must be an integer of at least ${minimum}, got ${value}`);
  }
}
