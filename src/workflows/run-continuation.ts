import { makeContinueAsNewFunc, workflowInfo } from '@temporalio/workflow';
import { runSummaryOf } from '../domain/runs';
import {
  runMemoKey,
  type BackgroundTaskSpec,
  type RunDocument,
  type RunTaskPolicy,
  type RunWorkflowInput,
} from '../temporal/contracts';

/**
 * Patch of a run's history bound: a run that is only waiting on its tasks' retries continues as
 * new once its history is long, and refuses work past twice that while it cannot. Histories
 * recorded before it never continue as new.
 */
export const runContinueAsNewPatch = 'run-continue-as-new-1';

const defaultHistoryEventsBeforeContinueAsNew = 10_000;

export interface RunHistoryBound {
  /** Whether the run should hand over to a new execution at its next safe point. */
  full(): boolean;
  /**
   * Why a task action that adds work is refused now, or undefined: the history is past twice its
   * bound while children still run, so the run cannot continue as new yet.
   */
  refusal(runId: string): string | undefined;
}

/**
 * The bound of a run's history. What grows it without limit is operators' task actions (each retry
 * dispatches a child again); a run's own steps and its `maxTasks` first dispatches are bounded.
 * Reads only the history length and Temporal's suggestion, both part of the history, so replay
 * decides the same.
 */
export function runHistoryBound(enabled: boolean, policy: RunTaskPolicy | undefined): RunHistoryBound {
  const limit = policy?.historyEventsBeforeContinueAsNew ?? defaultHistoryEventsBeforeContinueAsNew;
  return {
    full: () => enabled && (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength >= limit),
    refusal(runId) {
      const events = workflowInfo().historyLength;
      if (!enabled || events < 2 * limit) return undefined;
      return (
        `run ${runId} has ${events} history events, past twice its bound of ${limit} ` +
        `(tasks.historyEventsBeforeContinueAsNew), and its tasks are still running; ` +
        `it takes no new task work until they end (cancel still works)`
      );
    },
  };
}

/**
 * Ends this execution and continues the run in a new one that resumes from `run`: the same input,
 * with every task's spec and the document as it stands. The memo and search attributes go along,
 * so the run never disappears from a read or a listing between the two executions.
 */
export function continueRunAsNew(input: RunWorkflowInput, run: RunDocument, specs: BackgroundTaskSpec[]): Promise<never> {
  const info = workflowInfo();
  const next: RunWorkflowInput = {
    ...input,
    backgroundTasks: specs,
    continued: { document: run, continuations: (input.continued?.continuations ?? 0) + 1 },
  };
  return makeContinueAsNewFunc<(input: RunWorkflowInput) => Promise<RunDocument>>({
    memo: { ...info.memo, [runMemoKey]: runSummaryOf(run) },
    typedSearchAttributes: info.typedSearchAttributes,
  })(next);
}
