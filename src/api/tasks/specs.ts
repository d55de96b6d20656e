import type { PalyraConfig } from '../../config';
import { PalyraError } from '../../domain/errors';
import { taskTimingProblems } from '../../domain/tasks';
import type { BackgroundTaskSpec } from '../../temporal/contracts';
import { resolveModelChoice } from '../runs/model-choice';
import type { BackgroundTaskRequest } from './schemas';

/**
 * Turns the tasks of a request into what the run workflow schedules: the model resolved, timing
 * that can never work refused with the field named (`body.backgroundTasks.1.expiresAt`), and the
 * run's task limit enforced.
 */
export function resolveTaskSpecs(
  config: PalyraConfig,
  requests: readonly BackgroundTaskRequest[],
  now: Date,
  field: string,
): BackgroundTaskSpec[] {
  if (requests.length > config.tasks.maxPerRun) {
    throw new PalyraError(
      'validation_failed',
      `${field}: ${requests.length} tasks; a run may have at most ${config.tasks.maxPerRun} (tasks.maxPerRun)`,
      { field },
    );
  }
  return requests.map((request, index) => {
    const taskField = `${field}.${index}`;
    const [problem] = taskTimingProblems(
      {
        ...(request.notBefore ? { notBeforeMs: Date.parse(request.notBefore) } : {}),
        ...(request.expiresAt ? { expiresAtMs: Date.parse(request.expiresAt) } : {}),
      },
      now.getTime(),
    );
    if (problem) {
      throw new PalyraError('validation_failed', `${taskField}.${problem.field}: ${problem.message}`, {
        field: `${taskField}.${problem.field}`,
      });
    }
    // A task without a model is routed among the configured models: when some are served by real
    // providers, a simulated task must name its simulated model, or it could be sent to a paid one.
    if (request.simulation && request.model === undefined && servesRealModels(config)) {
      throw new PalyraError(
        'validation_failed',
        `${taskField}.model: a task with simulation options must name a model served by a simulated provider (routing could pick a real one)`,
        { field: `${taskField}.model` },
      );
    }
    const { choice, modelMaxOutputTokens } = resolveModelChoice(
      config,
      { model: request.model, simulation: request.simulation, maxOutputTokens: request.budgetTokens },
      taskField,
      'budgetTokens',
    );
    const { model: _model, ...task } = request;
    return { ...task, model: choice, maxOutputTokens: modelMaxOutputTokens } as BackgroundTaskSpec;
  });
}

function servesRealModels(config: PalyraConfig): boolean {
  return config.models.some((model) => config.providers.find((p) => p.id === model.provider)?.kind !== 'simulated');
}
