import { ScheduleNotFoundError, type ScheduleDescription } from '@temporalio/client';
import { supervisorScheduleId } from '../../temporal/supervisor-schedule';
import { temporalCall, type SectionContext } from '../deps';
import { verdictOf, type Finding } from '../run-section';
import type { SectionVerdict, SupervisorFigures } from '../types';

/** Ticks this many intervals overdue (plus a minute for a slow tick) mean the supervisor is not running. */
export const staleTickIntervals = 3;
const staleTickMarginMs = 60_000;

export async function supervisorSection(context: SectionContext): Promise<SectionVerdict & SupervisorFigures> {
  const { config, ledger } = context.deps;
  const scheduleId = supervisorScheduleId(config);
  const intervalMs = config.selfHealing.supervisorIntervalMs;
  const now = context.now.getTime();
  const [schedule, tick] = await Promise.all([
    temporalCall(context, (client) => client.schedule.getHandle(scheduleId).describe()).catch((error: unknown) => {
      if (error instanceof ScheduleNotFoundError) return undefined;
      throw error;
    }),
    ledger.lastSupervisorTick(),
  ]);
  const lastAction = schedule?.info.recentActions.at(-1);
  const lastTick = tick
    ? {
        startedAt: tick.startedAt,
        durationMs: tick.durationMs,
        findings: tick.findings,
        error: tick.error ?? null,
        ticks: tick.ticks,
        recordedAt: tick.recordedAt,
        ageMs: Math.max(0, now - Date.parse(tick.recordedAt)),
      }
    : null;

  const findings: Finding[] = [];
  if (!schedule) {
    findings.push({
      status: 'blocking',
      code: 'supervisor_schedule_missing',
      hint: `the supervisor schedule '${scheduleId}' does not exist: restart \`palyra api\` (it recreates it) or run \`palyra doctor --repair\``,
    });
  } else if (schedule.state.paused) {
    findings.push({
      status: 'degraded',
      code: 'supervisor_schedule_paused',
      hint: `the supervisor schedule '${scheduleId}' is paused${schedule.state.note ? ` (${schedule.state.note})` : ''}: nothing is detected until it is unpaused (temporal schedule unpause --schedule-id ${scheduleId})`,
    });
  } else if (isStale(schedule, lastTick, now, intervalMs)) {
    findings.push({
      status: 'degraded',
      code: 'supervisor_tick_stale',
      hint: `no supervisor tick recorded for over ${staleTickIntervals} intervals while the schedule fires: check the supervisor task queue's pollers`,
    });
  }
  if (lastTick?.error) {
    findings.push({
      status: 'degraded',
      code: 'supervisor_tick_failed',
      hint: `the last supervisor tick failed: ${lastTick.error}`,
    });
  }
  return {
    ...verdictOf(findings),
    scheduleId,
    present: schedule !== undefined,
    paused: schedule ? schedule.state.paused : null,
    note: schedule?.state.note ?? null,
    intervalMs,
    lastActionAt: lastAction ? lastAction.takenAt.toISOString() : null,
    nextActionAt: schedule?.info.nextActionTimes[0]?.toISOString() ?? null,
    lastTick,
  };
}

/** Stale: the schedule has fired for a while, yet the newest tick (if any) is old. */
function isStale(
  schedule: ScheduleDescription,
  lastTick: SupervisorFigures['lastTick'],
  now: number,
  intervalMs: number,
): boolean {
  const allowedMs = staleTickIntervals * intervalMs + staleTickMarginMs;
  const firstAction = schedule.info.recentActions[0];
  if (!firstAction || now - firstAction.takenAt.getTime() < allowedMs) return false;
  return lastTick === null || lastTick.ageMs > allowedMs;
}
