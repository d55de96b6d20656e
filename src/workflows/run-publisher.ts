import { setCurrentDetails, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import { runSummaryOf } from '../domain/runs';
import { runMemoKey, searchAttributes, type RunDocument } from '../temporal/contracts';

/**
 * Patch of how a run publishes itself: a bounded summary in the memo, at most once per workflow
 * task, and search attributes only when they change. Histories recorded before it publish the
 * whole document on every change.
 */
export const runSummaryMemoPatch = 'run-summary-memo-1';

export interface RunPublisher {
  /** The run changed: make it visible (at once, or at the end of this workflow task). */
  publish(): void;
  /** Publishes what is pending now: before the workflow's last command, and after each pass of the task loop. */
  flush(): void;
  /**
   * While this holds, a pending change is left for an explicit `flush` still to come in this
   * workflow task (the task loop's pass), so the changes of both make one upsert.
   */
  deferWhile(pending: () => boolean): void;
}

/**
 * Makes the run's current state visible: search attributes, memo and the UI's current details.
 * `summaryMemo` (the patch above) coalesces: the first change of a workflow task schedules one
 * flush in a microtask, which runs before the task's commands are sent, so a burst of changes in
 * one activation (a hundred children ending at once) is one memo upsert of a bounded size. When
 * those changes wake the task loop (which then starts more children in the same workflow task),
 * the flush is left to the end of the loop's pass.
 */
export function createRunPublisher(run: RunDocument, summaryMemo: boolean): RunPublisher {
  if (!summaryMemo) {
    const publish = () => publishWholeDocument(run);
    return { publish, flush: () => {}, deferWhile: () => {} };
  }
  let dirty = false;
  let deferred = () => false;
  let lastMemo: string | undefined;
  let lastAttributes: { state?: string; model?: string; cost?: number } = {};

  function flush(): void {
    if (!dirty) return;
    dirty = false;
    const attributes = [
      ...(lastAttributes.state !== run.state ? [{ key: searchAttributes.runState, value: run.state }] : []),
      ...(lastAttributes.model !== run.model.selected ? [{ key: searchAttributes.model, value: run.model.selected }] : []),
      ...(lastAttributes.cost !== run.costMicroUsd ? [{ key: searchAttributes.costMicroUsd, value: run.costMicroUsd }] : []),
    ];
    if (attributes.length > 0) upsertSearchAttributes(attributes);
    lastAttributes = { state: run.state, model: run.model.selected, cost: run.costMicroUsd };
    const summary = runSummaryOf(run);
    const encoded = JSON.stringify(summary);
    if (encoded !== lastMemo) upsertMemo({ [runMemoKey]: summary });
    lastMemo = encoded;
    setCurrentDetails(currentDetails(run));
  }

  return {
    publish(): void {
      if (dirty) return;
      dirty = true;
      void Promise.resolve().then(() => {
        if (!deferred()) flush();
      });
    },
    flush,
    deferWhile(pending: () => boolean): void {
      deferred = pending;
    },
  };
}

/** The publish of histories recorded before {@link runSummaryMemoPatch}: unchanged, so they replay. */
function publishWholeDocument(run: RunDocument): void {
  upsertSearchAttributes([
    { key: searchAttributes.runState, value: run.state },
    { key: searchAttributes.model, value: run.model.selected },
    { key: searchAttributes.costMicroUsd, value: run.costMicroUsd },
  ]);
  const { output: _output, ...summary } = run;
  upsertMemo({ [runMemoKey]: summary });
  setCurrentDetails(currentDetails(run));
}

function currentDetails(run: RunDocument): string {
  const tokens = run.usage ? `, ${run.usage.inputTokens} in / ${run.usage.outputTokens} out tokens` : '';
  return `**${run.state}** on \`${run.model.selected}\`, cost ${run.costMicroUsd} µUSD${tokens}`;
}
