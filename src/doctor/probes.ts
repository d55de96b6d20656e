import { ScheduleNotFoundError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ownerWorkflowIdOfBooking } from '../activities/supervisor-evidence';
import type { PalyraConfig } from '../config';
import { longPollMs, type IncidentDocument } from '../domain/self-healing';
import type { LedgerRepository } from '../ledger';
import { incidentMemoKey, incidentSearchAttributes, incidentWorkflowType } from '../temporal/contracts';
import { supervisorScheduleId } from '../temporal/supervisor-schedule';
import { quoteValue } from '../temporal/visibility-query';

/**
 * What the doctor reads to decide its checks and plan its repairs. Read-only: every function here
 * only describes, lists or selects.
 */

export type ScheduleState = { present: false } | { present: true; paused: boolean; note: string };

export async function supervisorScheduleState(client: Client, config: PalyraConfig): Promise<ScheduleState> {
  try {
    const description = await client.schedule.getHandle(supervisorScheduleId(config)).describe();
    return { present: true, paused: description.state.paused, note: description.state.note ?? '' };
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return { present: false };
    throw error;
  }
}

/** Workers polling the run queue now (an idle poll's access time ages up to a minute: see `longPollMs`). */
export async function runQueuePollers(client: Client, config: PalyraConfig): Promise<string[]> {
  const response = await client.workflowService.describeTaskQueue({
    namespace: config.temporal.namespace,
    taskQueue: { name: config.temporal.taskQueue },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  const now = Date.now();
  return (response.pollers ?? [])
    .filter((poller) => now - Number(poller.lastAccessTime?.seconds ?? 0) * 1000 <= longPollMs)
    .map((poller) => poller.identity ?? 'unknown');
}

export interface HoldView {
  reservationId: string;
  tenantId: string;
  bookingId: string;
  ownerWorkflowId: string;
  heldMicroUsd: number;
  expiresAt: string;
}

/** Pending holds past their expiry: the sweeper should have expired them. */
export async function expiredPendingHolds(ledger: LedgerRepository, now = Date.now()): Promise<HoldView[]> {
  const pending = await ledger.pendingReservationsForSupervisor({ limit: 1_000 });
  return pending.filter((hold) => hold.expiresAt <= now).map(view);
}

/**
 * Pending holds not yet expired whose run or task workflow is not running (terminated from the UI,
 * reset, lost), made more than `graceMs` ago (a hold is booked just before its workflow shows).
 */
export async function orphanedHolds(
  client: Client,
  ledger: LedgerRepository,
  graceMs: number,
  now = Date.now(),
): Promise<HoldView[]> {
  const pending = await ledger.pendingReservationsForSupervisor({ limit: 1_000 });
  const orphans: HoldView[] = [];
  for (const hold of pending) {
    if (hold.expiresAt <= now || now - hold.createdAt < graceMs) continue;
    const ownerWorkflowId = ownerWorkflowIdOfBooking(hold.bookingId);
    const running = await client.workflow
      .getHandle(ownerWorkflowId)
      .describe()
      .then((description) => description.status.name === 'RUNNING')
      .catch((error: unknown) => {
        if (error instanceof WorkflowNotFoundError) return false;
        throw error;
      });
    if (!running) orphans.push(view(hold));
  }
  return orphans;
}

function view(hold: Awaited<ReturnType<LedgerRepository['pendingReservationsForSupervisor']>>[number]): HoldView {
  return {
    reservationId: hold.reservationId,
    tenantId: hold.tenantId,
    bookingId: hold.bookingId,
    ownerWorkflowId: ownerWorkflowIdOfBooking(hold.bookingId),
    heldMicroUsd: hold.heldMicroUsd,
    expiresAt: new Date(hold.expiresAt).toISOString(),
  };
}

/** Incidents whose remediation has been under way for longer than `olderThanMs` (a worker lost mid-action, a hung call). */
export async function incidentsStuckRemediating(
  client: Client,
  config: PalyraConfig,
  olderThanMs: number,
): Promise<IncidentDocument[]> {
  const query = [
    `WorkflowType = '${incidentWorkflowType}'`,
    `ExecutionStatus = 'Running'`,
    `TaskQueue = ${quoteValue(config.temporal.supervisorTaskQueue)}`,
    `${incidentSearchAttributes.state.name} = 'remediating'`,
  ].join(' AND ');
  const stuck: IncidentDocument[] = [];
  for await (const execution of client.workflow.list({ query, pageSize: 100 })) {
    const document = execution.memo?.[incidentMemoKey] as IncidentDocument | undefined;
    if (document && Date.now() - Date.parse(document.updatedAt) > olderThanMs) stuck.push(document);
    if (stuck.length >= 100) break;
  }
  return stuck;
}
