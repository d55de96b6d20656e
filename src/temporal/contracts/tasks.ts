/**
 * The background-task workflow: one child run per dispatch of a task.
 * Part of the contracts (see index.ts): bundled into workflow code, so no Node built-ins or I/O.
 */
import type { ChatMessage, SimulationOptions } from '../../domain/chat';
import type { TaskClass } from '../../domain/routing';
import { type TaskKind, type TaskState } from '../../domain/tasks';
import {
  type BackgroundTaskDocument,
  type RunError,
  type RunModelChoice,
  type TaskRetryTiming,
  taskResultSummaryLength,
} from './runs';

export interface BackgroundTaskWorkflowInput {
  taskId: string;
  runId: string;
  tenantId: string;
  principalId: string;
  kind: TaskKind;
  taskClass: TaskClass;
  messages: ChatMessage[];
  jsonMode: boolean;
  model: RunModelChoice;
  /** The output cap of each attempt: the task's budgetTokens, or the model's own cap. */
  maxOutputTokens: number;
  /** Whether the caller capped the output (routing then holds every candidate to it). */
  outputCapped: boolean;
  simulation?: SimulationOptions;
  maxAttempts: number;
  /** Which dispatch of the task this is (1, then one more per operator retry): part of its ledger keys. */
  dispatch: number;
  /** The task must be done by then or it is stopped and ends `expired`. */
  expiresAt?: string;
  /** The child stops itself this long after it started and ends `failed` with `child_timeout`. */
  timeoutMs?: number;
  timing: { heartbeatTimeoutMs: number; providerTimeoutMs: number; retry: TaskRetryTiming };
}

/** How a dispatch of a task ended; the child completes with it whatever the state (so it reaches the parent). */
export interface BackgroundTaskOutcome {
  state: Extract<TaskState, 'succeeded' | 'failed' | 'cancelled' | 'expired'>;
  attempt: number;
  /** What this dispatch paid (all its attempts). */
  costMicroUsd: number;
  modelId: string;
  output?: string;
  error?: RunError;
}

/**
 * A task's document once a dispatch has ended: the run records it so, and the API reads a detached
 * child that outlived its run the same way. A cancellation the run asked for keeps the reason it
 * gave; a child that finished before the request reached it keeps its own terminal state.
 */
export function withTaskOutcome<T extends BackgroundTaskDocument>(
  task: T,
  outcome: BackgroundTaskOutcome,
  finishedAt: string,
): T {
  const { error: requestedReason, result: _previousResult, ...rest } = task;
  const error = outcome.state === 'cancelled' ? (requestedReason ?? outcome.error) : outcome.error;
  return {
    ...rest,
    state: outcome.state,
    attempt: outcome.attempt,
    costMicroUsd: task.costMicroUsd + outcome.costMicroUsd,
    model: { ...task.model, selected: outcome.modelId },
    ...(outcome.output !== undefined ? { result: outcome.output.slice(0, taskResultSummaryLength) } : {}),
    ...(error ? { error } : {}),
    finishedAt,
  } as T;
}

/** Memo key of a task child's progress (state, attempt, cost), readable while it runs. */
export const taskMemoKey = 'task';

export interface BackgroundTaskProgress {
  state: TaskState;
  attempt: number;
  costMicroUsd: number;
  modelId: string;
}
