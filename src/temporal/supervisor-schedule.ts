import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptionsAction,
} from '@temporalio/client';
import type { PalyraConfig } from '../config';
import { supervisorWorkflowType, type SupervisorWorkflowInput } from './contracts';

/**
 * The supervisor's Temporal Schedule (docs/architecture.md, Self-healing): one per supervisor task
 * queue, named after it (`palyra-supervisor` by default). Every `selfHealing.supervisorIntervalMs` it
 * starts one short supervisor workflow; overlap SKIP, so a slow tick is never stacked on.
 */

export const supervisorScheduleId = (config: Pick<PalyraConfig, 'temporal'>): string => config.temporal.supervisorTaskQueue;

export function supervisorWorkflowInput(config: Pick<PalyraConfig, 'temporal' | 'selfHealing'>): SupervisorWorkflowInput {
  return {
    runTaskQueue: config.temporal.taskQueue,
    supervisorTaskQueue: config.temporal.supervisorTaskQueue,
    settings: config.selfHealing,
  };
}

function scheduleAction(config: Pick<PalyraConfig, 'temporal' | 'selfHealing'>) {
  return {
    type: 'startWorkflow',
    workflowType: supervisorWorkflowType,
    // The schedule appends the scheduled time to this id.
    workflowId: supervisorScheduleId(config),
    taskQueue: config.temporal.supervisorTaskQueue,
    args: [supervisorWorkflowInput(config)],
    // A tick that cannot run soon is useless: the next one is an interval away.
    workflowExecutionTimeout: `${Math.max(60_000, config.selfHealing.supervisorIntervalMs * 4)} ms`,
  } satisfies ScheduleOptionsAction;
}

/**
 * Creates the schedule, or brings an existing one in line with the config (interval, thresholds,
 * queues), keeping whether an operator paused it. Safe to call from every process at start-up.
 */
export async function ensureSupervisorSchedule(
  client: Client,
  config: Pick<PalyraConfig, 'temporal' | 'selfHealing'>,
): Promise<{ created: boolean }> {
  const scheduleId = supervisorScheduleId(config);
  const spec = { intervals: [{ every: config.selfHealing.supervisorIntervalMs }] };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' as const };
  try {
    await client.schedule.create({
      scheduleId,
      spec,
      action: scheduleAction(config),
      policies,
      state: { note: 'Palyra self-healing supervisor (created at start-up)' },
    });
    return { created: true };
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  try {
    await client.schedule.getHandle(scheduleId).update((previous) => ({
      ...previous,
      spec,
      action: scheduleAction(config),
      policies: { ...previous.policies, ...policies },
    }));
  } catch (error) {
    // Deleted between the create and the update: create it afresh.
    if (!(error instanceof ScheduleNotFoundError)) throw error;
    return ensureSupervisorSchedule(client, config);
  }
  return { created: false };
}

/** Removes the schedule (tests, and `palyra doctor` repairs that recreate it). */
export async function deleteSupervisorSchedule(client: Client, config: Pick<PalyraConfig, 'temporal'>): Promise<void> {
  await client.schedule
    .getHandle(supervisorScheduleId(config))
    .delete()
    .catch((error: unknown) => {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
    });
}
