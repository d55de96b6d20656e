import type { PalyraConfig } from '../../config';
import type { SimulationOptions } from '../../domain/chat';
import { PalyraError } from '../../domain/errors';
import type { RunModelChoice } from '../../temporal/contracts';

/** What a run or a task asks for that depends on its model. */
export interface ModelRequest {
  model?: string;
  maxOutputTokens?: number;
  simulation?: SimulationOptions;
}

/**
 * Resolves the requested (or default) model and checks what depends on it, with errors naming the
 * field under `field` (`body`, `body.backgroundTasks.2`, …): an unknown model, simulation options
 * for a model no simulated provider serves, a simulated pace that would look like a stalled
 * stream, an output cap above the model's.
 */
export function resolveModelChoice(
  config: PalyraConfig,
  request: ModelRequest,
  field: string,
  outputCapField = 'maxOutputTokens',
): { choice: RunModelChoice; modelMaxOutputTokens: number } {
  const modelId = request.model ?? config.routing.defaultModel;
  const model = config.models.find((m) => m.id === modelId);
  if (!model) {
    throw new PalyraError('unknown_model', `unknown model '${modelId}' in field ${field}.model`, {
      field: `${field}.model`,
      knownModels: config.models.map((m) => m.id),
    });
  }
  const provider = config.providers.find((p) => p.id === model.provider);
  if (request.simulation && provider?.kind !== 'simulated') {
    throw new PalyraError('validation_failed', `${field}.simulation: model '${model.id}' is not served by a simulated provider`, {
      field: `${field}.simulation`,
    });
  }
  if (request.simulation && request.simulation.chunkDelayMs >= config.runs.heartbeatTimeoutMs) {
    throw new PalyraError(
      'validation_failed',
      `${field}.simulation.chunkDelayMs: ${request.simulation.chunkDelayMs} ms would look like a stalled stream; ` +
        `keep it below the heartbeat timeout of ${config.runs.heartbeatTimeoutMs} ms`,
      { field: `${field}.simulation.chunkDelayMs` },
    );
  }
  if (request.maxOutputTokens !== undefined && request.maxOutputTokens > model.maxOutputTokens) {
    throw new PalyraError(
      'validation_failed',
      `${field}.${outputCapField}: ${request.maxOutputTokens} exceeds the ${model.maxOutputTokens} output tokens model '${model.id}' allows`,
      { field: `${field}.${outputCapField}` },
    );
  }
  return {
    choice: { requested: request.model ?? null, selected: model.id, providerId: model.provider },
    modelMaxOutputTokens: model.maxOutputTokens,
  };
}
