import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export interface ReadinessCheck {
  ok: boolean;
  message: string;
}

export interface Readiness {
  ready: boolean;
  checks: { temporal: ReadinessCheck; workers: ReadinessCheck; ledger: ReadinessCheck };
}

export interface ReadinessTargets {
  connection: Connection;
  namespace: string;
  taskQueue: string;
  ledger: { ping(): Promise<void> };
  now: number;
}

/**
 * A poller is counted as live when it polled within this window. Workers long-poll for up to about
 * a minute, while the server remembers pollers for several minutes after they are gone.
 */
const livePollerWindowMs = 90_000;
const probeDeadlineMs = 2_000;

export async function checkReadiness(targets: ReadinessTargets): Promise<Readiness> {
  const [temporalAndWorkers, ledger] = await Promise.all([checkTemporal(targets), checkLedger(targets.ledger)]);
  return {
    ready: temporalAndWorkers.temporal.ok && temporalAndWorkers.workers.ok && ledger.ok,
    checks: { ...temporalAndWorkers, ledger },
  };
}

async function checkLedger(ledger: { ping(): Promise<void> }): Promise<ReadinessCheck> {
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`no answer in ${probeDeadlineMs} ms`)), probeDeadlineMs).unref(),
  );
  return Promise.race([ledger.ping(), timeout]).then(
    () => ({ ok: true, message: 'ledger answering' }),
    (error: Error) => ({ ok: false, message: `ledger unavailable: ${error.message.split('\n')[0]}` }),
  );
}

async function checkTemporal({
  connection,
  namespace,
  taskQueue,
  now,
}: ReadinessTargets): Promise<Pick<Readiness['checks'], 'temporal' | 'workers'>> {
  const temporalCheck = await connection
    .withDeadline(now + probeDeadlineMs, () => connection.workflowService.getSystemInfo({}))
    .then(
      (info) => ({ ok: true, message: `Temporal server ${info.serverVersion || 'reachable'}` }),
      (error: Error) => ({ ok: false, message: `Temporal unreachable: ${error.message.split('\n')[0]}` }),
    );
  if (!temporalCheck.ok) {
    return { temporal: temporalCheck, workers: { ok: false, message: 'not checked: Temporal unreachable' } };
  }

  const workers = await Promise.all(
    [
      temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    ].map((taskQueueType) =>
      connection.withDeadline(now + probeDeadlineMs, () =>
        connection.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue }, taskQueueType }),
      ),
    ),
  ).then(
    ([workflowQueue, activityQueue]) => {
      const live = (pollers: temporal.api.taskqueue.v1.IPollerInfo[] | null | undefined) =>
        (pollers ?? []).filter((p) => {
          const seconds = Number(p.lastAccessTime?.seconds ?? 0);
          return now - seconds * 1000 <= livePollerWindowMs;
        }).length;
      const workflowPollers = live(workflowQueue?.pollers);
      const activityPollers = live(activityQueue?.pollers);
      const ok = workflowPollers > 0 && activityPollers > 0;
      return {
        ok,
        message: ok
          ? `${workflowPollers} workflow and ${activityPollers} activity pollers on task queue '${taskQueue}'`
          : `no worker is polling task queue '${taskQueue}' in namespace '${namespace}' ` +
            `(${workflowPollers} workflow, ${activityPollers} activity pollers): start \`palyra worker\``,
      };
    },
    (error: Error) => ({ ok: false, message: `cannot describe task queue '${taskQueue}': ${error.message.split('\n')[0]}` }),
  );
  return { temporal: temporalCheck, workers };
}
