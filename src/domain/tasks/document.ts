/**
 * The task document (docs/architecture.md, Background tasks) and how it changes. Pure: the run workflow
 * and the API build and fold task documents alike.
 */
import type { SimulationOptions } from '../chat';
import type { RunError, RunModelChoice } from '../runs';
import { backgroundTaskId } from './ids';
import type { TaskInput, TaskKind } from './kinds';
import type { TaskState } from './task-state';

/** A background task as the API accepted it (model resolved, timing validated). */
export type BackgroundTaskSpec = TaskInput & {
  /** -10..10; higher starts first. */
  priority: number;
  notBefore?: string;
  expiresAt?: string;
  /** Bounds the task's child run (all its attempts); past it the child is cancelled: `child_timeout`. */
  timeoutMs?: number;
  maxAttempts: number;
  /** Caps the output tokens of each attempt (its reservation is sized to it). */
  budgetTokens?: number;
  model: RunModelChoice;
  /** The model's own output cap. */
  maxOutputTokens: number;
  simulation?: SimulationOptions;
};

/** The task document (docs/architecture.md, Contracts), as the run workflow keeps it (no Temporal UI link). */
export interface BackgroundTaskDocument {
  taskId: string;
  runId: string;
  kind: TaskKind;
  state: TaskState;
  /** The attempt under way or last made (0 before the first); an operator retry resets it. */
  attempt: number;
  maxAttempts: number;
  priority: number;
  /** Creation order within the run. */
  sequence: number;
  notBefore?: string;
  expiresAt?: string;
  timeoutMs?: number;
  budgetTokens?: number;
  model: { requested: string | null; selected: string };
  /** All the task has paid, over every attempt and retry. */
  costMicroUsd: number;
  /** The start of the model's answer (at most {@link taskResultSummaryLength} characters). */
  result?: string;
  error?: RunError;
  /** How many times the task was started (the first dispatch and each operator retry). */
  dispatches: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
}

export const taskResultSummaryLength = 500;

export function newTaskDocument(
  spec: BackgroundTaskSpec,
  runId: string,
  sequence: number,
  createdAt: string,
): BackgroundTaskDocument {
  return {
    taskId: backgroundTaskId(runId, sequence),
    runId,
    kind: spec.kind,
    state: 'queued',
    attempt: 0,
    maxAttempts: spec.maxAttempts,
    priority: spec.priority,
    sequence,
    ...(spec.notBefore ? { notBefore: spec.notBefore } : {}),
    ...(spec.expiresAt ? { expiresAt: spec.expiresAt } : {}),
    ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
    ...(spec.budgetTokens !== undefined ? { budgetTokens: spec.budgetTokens } : {}),
    model: { requested: spec.model.requested, selected: spec.model.selected },
    costMicroUsd: 0,
    dispatches: 0,
    createdAt,
  };
}

/**
 * How a dispatch of a task ended: the task's child workflow completes with it whatever the state
 * (so it reaches the parent).
 */
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
