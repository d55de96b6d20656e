import { offerRemediation } from './remediations';
import { detectorModeOf, type DetectorSettings, type SelfHealingSettings } from './settings';
import {
  detectorNames,
  type DetectorName,
  type EvidenceSource,
  type Finding,
  type OpenWorkflowEvidence,
  type PendingActivityEvidence,
  type SelfHealingMode,
  type Severity,
  type SupervisorEvidence,
} from './types';

/**
 * The detectors (issue 11, Detectors): pure functions from one supervisor tick's evidence to findings.
 * Evidence has no memory, so every rule is stated over timestamps in the evidence against
 * `evidence.observedAt`; a threshold is reached when the elapsed time is at least the threshold.
 */

export type Detector<D extends DetectorName> = (
  evidence: SupervisorEvidence,
  settings: DetectorSettings<D>,
  mode: SelfHealingMode,
) => Finding[];

const severityOf: Record<DetectorName, Severity> = {
  stalled_stream: 'high',
  retry_storm: 'medium',
  no_pollers: 'critical',
  workflow_task_failing: 'critical',
  orphaned_reservation: 'medium',
  approval_waiting: 'low',
  run_overdue: 'medium',
  stuck_cancellation: 'high',
  spend_spike: 'medium',
};

const iso = (ms: number): string => new Date(ms).toISOString();

/** `45 s`, `12 min`, `12 min 5 s`, `1 h 5 min`: the largest unit, and the next one when it is not zero. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['min', 60_000],
    ['s', 1000],
  ];
  const first = units.findIndex(([, size]) => ms >= size);
  const parts = units.slice(first, first + 2).map(([name, size], i) => {
    const above = i === 0 ? Infinity : (units[first]?.[1] ?? Infinity);
    return { name, count: Math.floor((ms % above) / size) };
  });
  return parts
    .filter(({ count }, i) => i === 0 || count > 0)
    .map(({ name, count }) => `${count} ${name}`)
    .join(' ');
}

/** Micro-USD as dollars with cents (`$4.20`). */
export function formatMicroUsd(microUsd: number): string {
  return `$${(microUsd / 1_000_000).toFixed(2)}`;
}

const subjectOf = (workflow: OpenWorkflowEvidence) => ({ kind: workflow.kind, id: workflow.id });
const tenantOf = (tenantId: string | undefined) => (tenantId !== undefined ? { tenantId } : {});

function pendingActivities(
  evidence: SupervisorEvidence,
): { workflow: OpenWorkflowEvidence; activity: PendingActivityEvidence }[] {
  return evidence.workflows.flatMap((workflow) => workflow.pendingActivities.map((activity) => ({ workflow, activity })));
}

export const detectStalledStream: Detector<'stalled_stream'> = (evidence, { stallAfterMs }, mode) => {
  const now = evidence.observedAt;
  return pendingActivities(evidence).flatMap(({ workflow, activity }) => {
    const { progress } = activity;
    if (activity.activityType !== 'invokeProvider' || activity.state !== 'started' || progress === undefined) return [];
    // Temporal keeps the last heartbeat across attempts: details of an earlier attempt say nothing
    // about this one, whose progress is then counted from its own start.
    const sameAttempt = progress.attempt === activity.attempt;
    const candidates = [sameAttempt ? progress.progressAt : undefined, activity.lastStartedAt].filter(
      (t): t is number => t !== undefined,
    );
    if (candidates.length === 0) return [];
    const lastProgressAt = Math.max(...candidates);
    const stalledForMs = now - lastProgressAt;
    if (stalledForMs < stallAfterMs) return [];
    const tokensSoFar = sameAttempt ? progress.tokensSoFar : 0;
    return [
      {
        detector: 'stalled_stream',
        dedupeKey: `${workflow.workflowId}:${activity.activityId}:${activity.attempt}`,
        severity: severityOf.stalled_stream,
        summary:
          `${workflow.kind} ${workflow.id}: provider attempt ${activity.attempt} has made no token progress for ` +
          `${formatDuration(stalledForMs)} (threshold ${formatDuration(stallAfterMs)}; ${tokensSoFar} tokens so far)`,
        subject: subjectOf(workflow),
        ...tenantOf(workflow.tenantId),
        evidence: {
          workflowId: workflow.workflowId,
          temporalRunId: workflow.temporalRunId,
          activityId: activity.activityId,
          attempt: activity.attempt,
          tokensSoFar,
          stalledForMs,
          stallAfterMs,
          lastProgressAt: iso(lastProgressAt),
          ...(activity.lastHeartbeatAt !== undefined ? { lastHeartbeatAt: iso(activity.lastHeartbeatAt) } : {}),
          ...(activity.providerId !== undefined ? { providerId: activity.providerId } : {}),
        },
        remediation: offerRemediation(
          'fail_attempt',
          {
            workflowId: workflow.workflowId,
            temporalRunId: workflow.temporalRunId,
            activityId: activity.activityId,
            attempt: activity.attempt,
          },
          mode,
        ),
      },
    ];
  });
};

export const detectRetryStorm: Detector<'retry_storm'> = (evidence, { attempts }, mode) =>
  pendingActivities(evidence).flatMap(({ workflow, activity }) => {
    const { lastFailure } = activity;
    if (activity.attempt < attempts || lastFailure === undefined) return [];
    return [
      {
        detector: 'retry_storm',
        // One storm is one problem, whatever attempt it has reached.
        dedupeKey: `${workflow.workflowId}:${activity.activityId}`,
        severity: severityOf.retry_storm,
        summary:
          `${workflow.kind} ${workflow.id}: ${activity.activityType} is at attempt ${activity.attempt} (threshold ${attempts})` +
          `${activity.providerId !== undefined ? ` on provider ${activity.providerId}` : ''}, last failure: ${lastFailure.message}`,
        subject: subjectOf(workflow),
        ...tenantOf(workflow.tenantId),
        evidence: {
          workflowId: workflow.workflowId,
          activityId: activity.activityId,
          activityType: activity.activityType,
          attempt: activity.attempt,
          attempts,
          lastFailure,
          ...(activity.providerId !== undefined ? { providerId: activity.providerId } : {}),
        },
        ...(activity.providerId !== undefined
          ? { remediation: offerRemediation('open_provider_circuit', { providerId: activity.providerId }, mode) }
          : {}),
      },
    ];
  });

/** How long an idle poll may stay open after its access time, with a margin over Temporal's 60 s. */
export const longPollMs = 70_000;

export const detectNoPollers: Detector<'no_pollers'> = (evidence, { afterMs }, mode) => {
  const now = evidence.observedAt;
  return evidence.taskQueues.flatMap((queue) => {
    if (queue.role !== 'runs') return [];
    const accessTimes = queue.pollers.map((p) => p.lastAccessAt).filter((t): t is number => t !== undefined);
    const lastPollAt = queue.lastPollAt ?? (accessTimes.length > 0 ? Math.max(...accessTimes) : undefined);
    // Never polled with nobody listed is found at once; otherwise the queue must have been silent for afterMs
    // (Temporal lists a dead poller for minutes, so a non-empty list alone proves nothing). Temporal stamps
    // a poller's access when its long poll starts, and an idle worker's poll stays open up to a minute
    // (measured on the dev server: access times age to 55 s on a healthy idle queue), so silence is
    // counted from the end of that poll.
    const silentForMs = lastPollAt === undefined ? undefined : now - lastPollAt - longPollMs;
    const found = silentForMs === undefined ? queue.pollers.length === 0 : silentForMs >= afterMs;
    if (!found) return [];
    const since = silentForMs === undefined ? 'has never been polled' : `has had no poll for ${formatDuration(silentForMs)}`;
    return [
      {
        detector: 'no_pollers',
        dedupeKey: queue.name,
        severity: severityOf.no_pollers,
        summary: `task queue ${queue.name} ${since} (threshold ${formatDuration(afterMs)}): no worker is running runs`,
        subject: { kind: 'task_queue', id: queue.name },
        evidence: {
          taskQueue: queue.name,
          pollers: queue.pollers.length,
          afterMs,
          ...(lastPollAt !== undefined ? { lastPollAt: iso(lastPollAt), silentForMs } : {}),
          ...(queue.backlog !== undefined ? { backlog: queue.backlog } : {}),
        },
        remediation: offerRemediation('page', { taskQueue: queue.name }, mode),
      },
    ];
  });
};

export const detectWorkflowTaskFailing: Detector<'workflow_task_failing'> = (evidence, { attempts }, mode) =>
  evidence.failingWorkflows.flatMap((workflow) => {
    if (workflow.attempt < attempts) return [];
    const resetPoint = workflow.lastGoodWorkflowTaskEventId;
    return [
      {
        detector: 'workflow_task_failing',
        dedupeKey: `${workflow.workflowId}:${workflow.temporalRunId}`,
        severity: severityOf.workflow_task_failing,
        summary:
          `workflow ${workflow.workflowId} (${workflow.workflowType}): its workflow task keeps failing, at attempt ` +
          `${workflow.attempt} (threshold ${attempts})${workflow.failure !== undefined ? `: ${workflow.failure}` : ''}`,
        subject: { kind: 'workflow', id: workflow.workflowId },
        evidence: {
          workflowId: workflow.workflowId,
          temporalRunId: workflow.temporalRunId,
          workflowType: workflow.workflowType,
          attempt: workflow.attempt,
          attempts,
          ...(workflow.failure !== undefined ? { failure: workflow.failure } : {}),
          ...(resetPoint !== undefined ? { lastGoodWorkflowTaskEventId: resetPoint } : {}),
        },
        // Without a known good workflow task there is nowhere safe to reset to.
        ...(resetPoint !== undefined
          ? {
              remediation: offerRemediation(
                'reset_workflow',
                { workflowId: workflow.workflowId, temporalRunId: workflow.temporalRunId, eventId: resetPoint },
                mode,
              ),
            }
          : {}),
      },
    ];
  });

export const detectOrphanedReservation: Detector<'orphaned_reservation'> = (evidence, { graceMs }, mode) => {
  const now = evidence.observedAt;
  return evidence.pendingReservations.flatMap((reservation) => {
    const ageMs = now - reservation.createdAt;
    if (reservation.ownerOpen || ageMs < graceMs) return [];
    return [
      {
        detector: 'orphaned_reservation',
        dedupeKey: reservation.reservationId,
        severity: severityOf.orphaned_reservation,
        summary:
          `reservation ${reservation.reservationId} holds ${formatMicroUsd(reservation.heldMicroUsd)} for ` +
          `${reservation.ownerWorkflowId}, which is not running (held for ${formatDuration(ageMs)}, grace ${formatDuration(graceMs)})`,
        subject: { kind: 'reservation', id: reservation.reservationId },
        tenantId: reservation.tenantId,
        evidence: {
          reservationId: reservation.reservationId,
          bookingId: reservation.bookingId,
          ownerWorkflowId: reservation.ownerWorkflowId,
          heldMicroUsd: reservation.heldMicroUsd,
          ageMs,
          graceMs,
          createdAt: iso(reservation.createdAt),
          expiresAt: iso(reservation.expiresAt),
        },
        remediation: offerRemediation(
          'release_reservation',
          { reservationId: reservation.reservationId, ownerWorkflowId: reservation.ownerWorkflowId },
          mode,
        ),
      },
    ];
  });
};

export const detectApprovalWaiting: Detector<'approval_waiting'> = (evidence, { afterMs }, mode) => {
  const now = evidence.observedAt;
  return evidence.workflows.flatMap((run) => {
    if (run.kind !== 'run' || run.state !== 'awaiting_approval') return [];
    const waitingForMs = now - (run.stateSince ?? run.startedAt);
    if (waitingForMs < afterMs) return [];
    return [
      {
        detector: 'approval_waiting',
        dedupeKey: run.id,
        severity: severityOf.approval_waiting,
        summary: `run ${run.id} has waited for approval for ${formatDuration(waitingForMs)} (threshold ${formatDuration(afterMs)})`,
        subject: subjectOf(run),
        ...tenantOf(run.tenantId),
        evidence: {
          runId: run.id,
          workflowId: run.workflowId,
          waitingForMs,
          afterMs,
          since: iso(run.stateSince ?? run.startedAt),
        },
        remediation: offerRemediation('deny_approval', { runId: run.id, workflowId: run.workflowId }, mode),
      },
    ];
  });
};

export const detectRunOverdue: Detector<'run_overdue'> = (evidence, { afterMs }, mode) => {
  const now = evidence.observedAt;
  return evidence.workflows.flatMap((run) => {
    // A run waiting for approval is approval_waiting's; one already asked to cancel is stuck_cancellation's
    // (offering to cancel it again would do nothing).
    if (run.kind !== 'run' || run.state === 'awaiting_approval' || run.cancelRequested === true) return [];
    const openForMs = now - run.startedAt;
    if (openForMs < afterMs) return [];
    return [
      {
        detector: 'run_overdue',
        dedupeKey: run.id,
        severity: severityOf.run_overdue,
        summary: `run ${run.id} has been open for ${formatDuration(openForMs)} (threshold ${formatDuration(afterMs)})`,
        subject: subjectOf(run),
        ...tenantOf(run.tenantId),
        evidence: {
          runId: run.id,
          workflowId: run.workflowId,
          openForMs,
          afterMs,
          startedAt: iso(run.startedAt),
          ...(run.state !== undefined ? { state: run.state } : {}),
        },
        remediation: offerRemediation('cancel_run', { runId: run.id, workflowId: run.workflowId }, mode),
      },
    ];
  });
};

export const detectStuckCancellation: Detector<'stuck_cancellation'> = (evidence, { afterMs }, mode) => {
  const now = evidence.observedAt;
  return evidence.workflows.flatMap((workflow) => {
    const cancelling = (workflow.kind === 'task' && workflow.state === 'cancel_requested') || workflow.cancelRequested === true;
    // Only a known start of the cancellation can be measured; the workflow's own start would overstate it.
    if (!cancelling || workflow.stateSince === undefined) return [];
    const stuckForMs = now - workflow.stateSince;
    if (stuckForMs < afterMs) return [];
    return [
      {
        detector: 'stuck_cancellation',
        dedupeKey: `${workflow.kind}:${workflow.id}`,
        severity: severityOf.stuck_cancellation,
        summary:
          `${workflow.kind} ${workflow.id} has been cancelling for ${formatDuration(stuckForMs)} ` +
          `(threshold ${formatDuration(afterMs)})`,
        subject: subjectOf(workflow),
        ...tenantOf(workflow.tenantId),
        evidence: {
          workflowId: workflow.workflowId,
          temporalRunId: workflow.temporalRunId,
          stuckForMs,
          afterMs,
          since: iso(workflow.stateSince),
          ...(workflow.state !== undefined ? { state: workflow.state } : {}),
        },
        remediation: offerRemediation(
          'terminate_and_settle',
          { workflowId: workflow.workflowId, kind: workflow.kind, id: workflow.id },
          mode,
        ),
      },
    ];
  });
};

export const detectSpendSpike: Detector<'spend_spike'> = (evidence, { factor, minMicroUsd }, mode) =>
  evidence.tenantSpend.flatMap((tenant) => {
    const trailingHourlyMicroUsd = tenant.trailingDayMicroUsd / 24;
    if (tenant.lastHourMicroUsd < minMicroUsd || tenant.lastHourMicroUsd <= factor * trailingHourlyMicroUsd) return [];
    const against =
      trailingHourlyMicroUsd > 0
        ? `${(tenant.lastHourMicroUsd / trailingHourlyMicroUsd).toFixed(1)}× its trailing hourly rate of ` +
          `${formatMicroUsd(trailingHourlyMicroUsd)}`
        : 'with no spend in the trailing day';
    return [
      {
        detector: 'spend_spike',
        dedupeKey: tenant.tenantId,
        severity: severityOf.spend_spike,
        summary:
          `tenant ${tenant.tenantId} spent ${formatMicroUsd(tenant.lastHourMicroUsd)} in the last hour, ${against} ` +
          `(threshold ${factor}×, at least ${formatMicroUsd(minMicroUsd)})`,
        subject: { kind: 'tenant', id: tenant.tenantId },
        tenantId: tenant.tenantId,
        evidence: {
          lastHourMicroUsd: tenant.lastHourMicroUsd,
          trailingDayMicroUsd: tenant.trailingDayMicroUsd,
          trailingHourlyMicroUsd,
          factor,
          minMicroUsd,
        },
        remediation: offerRemediation('pause_tenant', { tenantId: tenant.tenantId }, mode),
      },
    ];
  });

export interface DetectorDefinition<D extends DetectorName> {
  severity: Severity;
  /** The evidence it reads: when one is unavailable it neither finds nor clears anything. */
  sources: readonly EvidenceSource[];
  detect: Detector<D>;
}

/** Each detector's severity, the evidence sources it needs, and its function. */
export const detectors: Readonly<{ [D in DetectorName]: DetectorDefinition<D> }> = {
  stalled_stream: { severity: severityOf.stalled_stream, sources: ['workflows'], detect: detectStalledStream },
  retry_storm: { severity: severityOf.retry_storm, sources: ['workflows'], detect: detectRetryStorm },
  no_pollers: { severity: severityOf.no_pollers, sources: ['taskQueues'], detect: detectNoPollers },
  workflow_task_failing: {
    severity: severityOf.workflow_task_failing,
    sources: ['failingWorkflows'],
    detect: detectWorkflowTaskFailing,
  },
  orphaned_reservation: {
    severity: severityOf.orphaned_reservation,
    sources: ['pendingReservations'],
    detect: detectOrphanedReservation,
  },
  approval_waiting: { severity: severityOf.approval_waiting, sources: ['workflows'], detect: detectApprovalWaiting },
  run_overdue: { severity: severityOf.run_overdue, sources: ['workflows'], detect: detectRunOverdue },
  stuck_cancellation: { severity: severityOf.stuck_cancellation, sources: ['workflows'], detect: detectStuckCancellation },
  spend_spike: { severity: severityOf.spend_spike, sources: ['tenantSpend'], detect: detectSpendSpike },
};

/**
 * The detectors that run on this evidence: mode not `disabled` and every source readable. The supervisor
 * clears an open incident only when its detector ran and did not find its dedupeKey again.
 */
export function evaluatedDetectors(evidence: SupervisorEvidence, settings: SelfHealingSettings): DetectorName[] {
  return detectorNames.filter(
    (name) =>
      detectorModeOf(settings, name) !== 'disabled' &&
      detectors[name].sources.every((source) => evidence.unavailable[source] === undefined),
  );
}

function runOne<D extends DetectorName>(name: D, evidence: SupervisorEvidence, settings: SelfHealingSettings): Finding[] {
  const definition: DetectorDefinition<D> = detectors[name];
  return definition.detect(evidence, settings.detectors[name], detectorModeOf(settings, name));
}

/** Every finding of the detectors that run (see `evaluatedDetectors`), in detector order. */
export function runDetectors(evidence: SupervisorEvidence, settings: SelfHealingSettings): Finding[] {
  return evaluatedDetectors(evidence, settings).flatMap((name) => runOne(name, evidence, settings));
}
