import type { PalyraConfig } from '../config';
import type { PolicyEvaluation, PolicyStatus } from '../domain/budget';
import type { ChatMessage } from '../domain/chat';
import { PalyraError } from '../domain/errors';
import { costMicroUsd, type ModelPrice } from '../domain/pricing';
import { planRoute, type RoutingDecision, type RoutingMode, type TaskClass } from '../domain/routing';
import type { LedgerRepository } from '../ledger';
import { loadPriceCatalog } from '../price-catalog/load';
import { countPromptTokens } from '../price-catalog/tokens';
import {
  createProviderCircuitOverrides,
  withCircuitOverrides,
  type ProviderCircuitOverrides,
  type ProviderHealthMonitor,
} from './health';

export interface RoutePlanRequest {
  tenantId: string;
  principalId: string;
  taskClass: TaskClass;
  /** The model the caller named, if any. */
  model?: string | null;
  messages: ChatMessage[];
  maxOutputTokens?: number | null;
  jsonMode?: boolean;
  /** A routing mode for this request only. */
  routingMode?: RoutingMode | null;
}

export type RoutePlanner = ReturnType<typeof createRoutePlanner>;

/**
 * Gathers what routing needs at this moment (prices, the prompt's size, the budget standing of
 * the caller's scope, provider health: this process's breakers and the installation's circuit
 * overrides) and asks the pure rules for a decision.
 */
export function createRoutePlanner({
  ledger,
  config,
  health,
  circuitOverrides = createProviderCircuitOverrides({ ledger }),
}: {
  ledger: LedgerRepository;
  config: Pick<PalyraConfig, 'models' | 'providers' | 'routing'>;
  health: ProviderHealthMonitor;
  circuitOverrides?: ProviderCircuitOverrides;
}) {
  return {
    async plan(request: RoutePlanRequest): Promise<RoutingDecision> {
      const baselineId = request.model ?? config.routing.defaultModel;
      const baseline = config.models.find((m) => m.id === baselineId);
      if (!baseline) {
        throw new PalyraError('unknown_model', `unknown model '${baselineId}' in field model`, {
          field: 'body.model',
          knownModels: config.models.map((m) => m.id),
        });
      }
      const now = Date.now();
      const catalog = await loadPriceCatalog(ledger, config);
      const prices: Record<string, ModelPrice | null> = Object.fromEntries(
        config.models.map((m) => [m.id, catalog.tryPriceFor(m.id)?.price ?? null]),
      );
      const { inputTokens } = countPromptTokens(request.messages, baselineId);
      const outputTokens = request.maxOutputTokens ?? baseline.maxOutputTokens;
      const baselinePrice = prices[baselineId];
      const evaluations = await ledger.evaluateRequest({
        scope: { tenantId: request.tenantId, principalId: request.principalId, modelId: baselineId },
        // An unpriced model is refused at admission; for the budget standing count its tokens only.
        costMicroUsd: baselinePrice ? costMicroUsd(baselinePrice, { inputTokens, outputTokens }) : 0,
        tokens: inputTokens + outputTokens,
      });
      return planRoute({
        taskClass: request.taskClass,
        mode: config.routing.mode,
        modeOverride: request.routingMode ?? null,
        requestedModel: request.model ?? null,
        defaultModel: config.routing.defaultModel,
        models: config.models,
        prices,
        inputTokens,
        maxOutputTokens: request.maxOutputTokens ?? null,
        jsonMode: request.jsonMode ?? false,
        hasVision: false,
        promptChars: request.messages.reduce((sum, m) => sum + m.content.length, 0),
        budgetStatus: mostSevere(evaluations),
        providerHealth: withCircuitOverrides(health.snapshot(now), await circuitOverrides.openProviders(now)),
      });
    },
  };
}

const severity: PolicyStatus[] = ['ok', 'soft_limit', 'hard_limit', 'downgrade', 'approval_required', 'blocked'];

/** The standing of the strictest applicable policy decides routing's budget rule. */
function mostSevere(evaluations: PolicyEvaluation[]): PolicyStatus {
  return evaluations.reduce<PolicyStatus>(
    (worst, e) => (severity.indexOf(e.status) > severity.indexOf(worst) ? e.status : worst),
    'ok',
  );
}
