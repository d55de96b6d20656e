import { taskStates, type TaskState } from '../../domain/tasks';
import type { RunSummary } from '../../domain/runs';
import { backgroundTaskWorkflowType, runMemoKey, runWorkflowType } from '../../temporal/contracts';
import { temporalCall, type SectionContext } from '../deps';
import { verdictOf, type Finding } from '../run-section';
import type { BackgroundTasksFigures, SectionVerdict } from '../types';

/** Open runs read per snapshot (newest first): their memos carry their tasks' counts by state. */
export const maxOpenRunsRead = 500;
/** Tasks queued longer than this (counted from their run's start) mean nothing dispatches them. */
export const queuedTooLongMs = 15 * 60_000;

export async function backgroundTasksSection(context: SectionContext): Promise<SectionVerdict & BackgroundTasksFigures> {
  const { namespace } = context.deps.config.temporal;
  const now = context.now.getTime();
  const [runs, children] = await Promise.all([
    readOpenRuns(context),
    temporalCall(context, (client) =>
      client.workflowService.countWorkflowExecutions({
        namespace,
        query: `WorkflowType = '${backgroundTaskWorkflowType}' AND ExecutionStatus = 'Running'`,
      }),
    ),
  ]);
  const byState = Object.fromEntries(taskStates.map((state) => [state, 0])) as Record<TaskState, number>;
  let oldestQueued: BackgroundTasksFigures['oldestQueued'] = null;
  for (const run of runs.items) {
    const counts = run.summary?.backgroundTaskCounts?.byState;
    if (!counts) continue;
    for (const state of taskStates) byState[state] += counts[state] ?? 0;
    if ((counts.queued ?? 0) > 0 && (!oldestQueued || run.startedAt < Date.parse(oldestQueued.runStartedAt))) {
      oldestQueued = { runId: run.runId, runStartedAt: new Date(run.startedAt).toISOString(), ageMs: now - run.startedAt };
    }
  }
  const findings: Finding[] = [];
  if (oldestQueued && oldestQueued.ageMs > queuedTooLongMs) {
    findings.push({
      status: 'degraded',
      code: 'tasks_queued_long',
      hint: `run ${oldestQueued.runId} has had queued tasks for up to ${Math.round(oldestQueued.ageMs / 60_000)} min: check its concurrency limit, notBefore times and the run worker`,
    });
  }
  return {
    ...verdictOf(findings),
    byState,
    runningChildren: Number(children.count ?? 0),
    openRunsRead: runs.items.length,
    truncated: runs.truncated,
    oldestQueued,
  };
}

async function readOpenRuns(context: SectionContext) {
  const query = `WorkflowType = '${runWorkflowType}' AND ExecutionStatus = 'Running'`;
  return temporalCall(context, async (client) => {
    const items: { runId: string; startedAt: number; summary: Partial<RunSummary> | undefined }[] = [];
    let truncated = false;
    for await (const execution of client.workflow.list({ query, pageSize: 100 })) {
      if (items.length >= maxOpenRunsRead) {
        truncated = true;
        break;
      }
      const summary = execution.memo?.[runMemoKey] as Partial<RunSummary> | undefined;
      items.push({ runId: summary?.runId ?? execution.workflowId, startedAt: execution.startTime.getTime(), summary });
    }
    return { items, truncated };
  });
}
