/**
 * The background-task workflow: one child run per dispatch of a task.
 * Part of the contracts (see index.ts): bundled into workflow code, so no Node built-ins or I/O.
 */
import type { ChatMessage, SimulationOptions } from '../../domain/chat';
import type { TaskClass } from '../../domain/routing';
import type { RunModelChoice } from '../../domain/runs';
import type { TaskKind, TaskState } from '../../domain/tasks';
import type { TaskRetryTiming } from './runs';

/** The child workflow's result: a domain value (src/domain/tasks), folded into the task document by `withTaskOutcome`. */
export type { BackgroundTaskOutcome } from '../../domain/tasks';

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

/** Memo key of a task child's progress (state, attempt, cost), readable while it runs. */
export const taskMemoKey = 'task';

export interface BackgroundTaskProgress {
  state: TaskState;
  attempt: number;
  costMicroUsd: number;
  modelId: string;
}
