import { temporal } from '@temporalio/proto';
import { longPollMs } from '../../domain/self-healing';
import { temporalCall, type SectionContext } from '../deps';
import { verdictOf, type Finding } from '../run-section';
import type { PollerFigures, SectionVerdict, TaskQueueFigures, TaskQueuesFigures } from '../types';

const { TaskQueueType } = temporal.api.enums.v1;

/**
 * The run queue and the supervisor queue. A queue needs a poller on both its workflow and its
 * activity side; a poller counts as polling while its last access is within `longPollMs` (Temporal
 * stamps the access when a long poll starts, and an idle worker's poll stays open about a minute).
 */
export async function taskQueuesSection(context: SectionContext): Promise<SectionVerdict & TaskQueuesFigures> {
  const { temporal: settings } = context.deps.config;
  const queues = await Promise.all([
    describeQueue(context, settings.taskQueue, 'runs'),
    describeQueue(context, settings.supervisorTaskQueue, 'supervisor'),
  ]);
  const findings = queues.flatMap((queue) => queue.findings);
  return { ...verdictOf(findings), queues: queues.map((queue) => queue.figures) };
}

async function describeQueue(
  context: SectionContext,
  name: string,
  role: TaskQueueFigures['role'],
): Promise<{ figures: TaskQueueFigures; findings: Finding[] }> {
  const namespace = context.deps.config.temporal.namespace;
  const now = context.now.getTime();
  const [workflowSide, activitySide] = await Promise.all(
    [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY].map((taskQueueType) =>
      temporalCall(context, (client) =>
        client.workflowService.describeTaskQueue({ namespace, taskQueue: { name }, taskQueueType, reportStats: true }),
      ),
    ),
  );
  const pollersOf = (response: typeof workflowSide): PollerFigures[] =>
    (response?.pollers ?? []).map((poller) => {
      const accessMs = poller.lastAccessTime?.seconds != null ? Number(poller.lastAccessTime.seconds) * 1000 : undefined;
      const buildId = poller.deploymentOptions?.buildId || poller.workerVersionCapabilities?.buildId || null;
      return {
        identity: poller.identity ?? '',
        lastAccessAt: accessMs !== undefined ? new Date(accessMs).toISOString() : null,
        polling: accessMs !== undefined && now - accessMs <= longPollMs,
        buildId,
      };
    });
  const backlogOf = (response: typeof workflowSide): number | null => {
    const count = response?.stats?.approximateBacklogCount;
    return count === undefined || count === null ? null : Number(count);
  };
  const workflowPollers = pollersOf(workflowSide);
  const activityPollers = pollersOf(activitySide);

  const findings: Finding[] = [];
  const sides = [
    ['workflow', workflowPollers],
    ['activity', activityPollers],
  ] as const;
  for (const [side, pollers] of sides) {
    if (pollers.some((p) => p.polling)) continue;
    const last = pollers
      .map((p) => p.lastAccessAt)
      .filter((at): at is string => at !== null)
      .sort()
      .pop();
    findings.push({
      status: 'blocking',
      code: 'no_pollers',
      hint:
        `no worker polls the ${side} side of task queue '${name}' (${role}; ` +
        `${last ? `last poll started ${last}` : 'never polled'}): ` +
        (role === 'runs' ? 'start `palyra worker`' : 'start `palyra api` or `palyra worker`, which poll it'),
    });
  }
  const verdict = verdictOf(findings);
  return {
    findings,
    figures: {
      name,
      role,
      status: verdict.status,
      workflowPollers,
      activityPollers,
      backlog: { workflowTasks: backlogOf(workflowSide), activityTasks: backlogOf(activitySide) },
      buildIds: [
        ...new Set([...workflowPollers, ...activityPollers].map((p) => p.buildId).filter((b): b is string => b !== null)),
      ],
    },
  };
}
