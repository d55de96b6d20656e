import type { RoutingDecision } from './decision';

/** What a run needs from a decision to go on: the model, its provider and the output cap planned for it. */
export interface ChosenRoute {
  modelId: string;
  providerId: string;
  maxOutputTokens: number;
}

/**
 * The route a run takes, or why there is none. "No model can take it" ends the run here, and so
 * does a downgrade budget that finds nothing cheaper when the run's own model cannot take the
 * request either (no candidate left). A budget block, an approval, or a missing cheaper model while
 * the run's model can take the request is admission's to decide (clamped, or 402 with the numbers).
 * `fallback` is the model the caller asked for, used when the decision keeps a model it did not
 * plan (a `suggest` or `dry_run` decision keeps the requested one).
 */
export function chosenRoute(
  decision: RoutingDecision,
  fallback: ChosenRoute,
  // Workflows whose histories predate the downgrade refusal pass false, so they replay as recorded.
  { refuseUncoveredDowngrade = true }: { refuseUncoveredDowngrade?: boolean } = {},
): ChosenRoute | { unroutable: string } {
  const unroutable =
    decision.reasonCodes.some((code) => code === 'no_model_fits' || code === 'no_healthy_model') ||
    (refuseUncoveredDowngrade && decision.reasonCodes.includes('no_cheaper_model') && decision.recommendedModel === null);
  if (decision.action === 'blocked' && unroutable) return { unroutable: decision.explanations.join(' ') };
  const chosen = decision.candidates.find((c) => c.modelId === decision.selectedModel);
  return {
    modelId: decision.selectedModel,
    providerId: chosen?.providerId ?? fallback.providerId,
    maxOutputTokens: chosen && chosen.plannedOutputTokens > 0 ? chosen.plannedOutputTokens : fallback.maxOutputTokens,
  };
}
