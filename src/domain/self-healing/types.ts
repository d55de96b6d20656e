/**
 * Self-healing vocabulary (docs/architecture.md, Self-healing): what the supervisor observes
 * (evidence), what detectors conclude (findings), what can be done about it (remediations) and the
 * incident that carries one problem from detection to resolution. Pure data: the supervisor and
 * incident workflows, the activities and the API all speak these types.
 */

export const detectorNames = [
  'stalled_stream',
  'retry_storm',
  'no_pollers',
  'workflow_task_failing',
  'orphaned_reservation',
  'approval_waiting',
  'run_overdue',
  'stuck_cancellation',
  'spend_spike',
] as const;
export type DetectorName = (typeof detectorNames)[number];

export const severities = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof severities)[number];

export const selfHealingModes = ['disabled', 'observe_only', 'auto'] as const;
export type SelfHealingMode = (typeof selfHealingModes)[number];

export const remediationIds = [
  'fail_attempt',
  'open_provider_circuit',
  'page',
  'reset_workflow',
  'release_reservation',
  'deny_approval',
  'cancel_run',
  'terminate_and_settle',
  'pause_tenant',
] as const;
export type RemediationId = (typeof remediationIds)[number];

export const remediationRisks = ['low', 'medium', 'high'] as const;
export type RemediationRisk = (typeof remediationRisks)[number];

export const subjectKinds = ['run', 'task', 'reservation', 'task_queue', 'workflow', 'tenant'] as const;
export type SubjectKind = (typeof subjectKinds)[number];
export interface IncidentSubject {
  kind: SubjectKind;
  id: string;
}

// ---------------------------------------------------------------------------------------------
// Evidence: one supervisor tick's observation of the installation. Times are epoch milliseconds.
// ---------------------------------------------------------------------------------------------

/** The last heartbeat of a provider attempt, as the provider activity writes it. */
export interface StreamProgressEvidence {
  tokensSoFar: number;
  attempt: number;
  /** When `tokensSoFar` last grew (or the attempt began streaming); absent on old workers. */
  progressAt?: number;
}

export interface PendingActivityEvidence {
  activityId: string;
  activityType: string;
  /** Temporal's attempt counter (1-based). */
  attempt: number;
  state: 'scheduled' | 'started' | 'cancel_requested' | 'paused' | 'unknown';
  lastStartedAt?: number;
  lastHeartbeatAt?: number;
  /** Decoded heartbeat details of a provider attempt. */
  progress?: StreamProgressEvidence;
  /** The provider the attempt calls (from its input), for circuit remediation. */
  providerId?: string;
  lastFailure?: { message: string; type?: string };
}

/** An open run or background-task workflow. */
export interface OpenWorkflowEvidence {
  kind: 'run' | 'task';
  /** Palyra's id: the run id, or the task id. */
  id: string;
  workflowId: string;
  /** Temporal's run id of the execution observed. */
  temporalRunId: string;
  tenantId?: string;
  startedAt: number;
  /** The Palyra state from the search attributes / memo (run: RunState; task: TaskState). */
  state?: string;
  /** When `state` was entered, when known (e.g. awaiting approval since, cancel requested at). */
  stateSince?: number;
  /** Temporal reports a cancellation request on the execution. */
  cancelRequested?: boolean;
  pendingActivities: PendingActivityEvidence[];
}

export interface TaskQueueEvidence {
  name: string;
  /** The queue whose pollers matter for `no_pollers` (the run queue). */
  role: 'runs' | 'supervisor';
  pollers: { identity: string; lastAccessAt?: number }[];
  /** Most recent poll by any poller (undefined when there has been none). */
  lastPollAt?: number;
  backlog?: number;
}

/** A workflow whose workflow tasks keep failing (non-determinism, a bug in a new deploy). */
export interface FailingWorkflowEvidence {
  workflowId: string;
  temporalRunId: string;
  workflowType: string;
  /** Attempt of the pending workflow task (2 or more: it has failed before). */
  attempt: number;
  failure?: string;
  /** The last event id of a workflow task that completed, the reset point. */
  lastGoodWorkflowTaskEventId?: number;
}

export interface PendingReservationEvidence {
  reservationId: string;
  tenantId: string;
  /** The run or task booking it holds for. */
  bookingId: string;
  /** The workflow that owns the hold (run-…, bgtask-…). */
  ownerWorkflowId: string;
  /** Whether that workflow is still running (false: closed, reset away or never existed). */
  ownerOpen: boolean;
  heldMicroUsd: number;
  createdAt: number;
  expiresAt: number;
}

export interface TenantSpendEvidence {
  tenantId: string;
  /** Spend in the last hour. */
  lastHourMicroUsd: number;
  /** Spend in the 24 hours before the last hour, i.e. the trailing daily rate. */
  trailingDayMicroUsd: number;
}

export interface SupervisorEvidence {
  /** The supervisor's clock when the evidence was gathered. */
  observedAt: number;
  workflows: OpenWorkflowEvidence[];
  taskQueues: TaskQueueEvidence[];
  failingWorkflows: FailingWorkflowEvidence[];
  pendingReservations: PendingReservationEvidence[];
  tenantSpend: TenantSpendEvidence[];
  /**
   * Evidence sources that could not be read this tick, by name (`workflows`, `taskQueues`, …).
   * Detectors over a missing source neither find nor clear anything.
   */
  unavailable: Partial<Record<EvidenceSource, string>>;
}
export type EvidenceSource = 'workflows' | 'taskQueues' | 'failingWorkflows' | 'pendingReservations' | 'tenantSpend';

// ---------------------------------------------------------------------------------------------
// Findings and remediations.
// ---------------------------------------------------------------------------------------------

export interface RemediationOffer {
  id: RemediationId;
  label: string;
  risk: RemediationRisk;
  /** Who or what the action touches, in words (one attempt, one run, every run of a tenant, …). */
  blastRadius: string;
  /** Must a person approve it, whatever the mode? */
  requiresApproval: boolean;
  /** May it run without a person under the mode in force for its detector? */
  autoExecutable: boolean;
  /** Does success end the problem (`page` does not: the incident stays open until the evidence clears)? */
  fixesProblem: boolean;
  /** What the remediation needs to act (ids of the activity, workflow, reservation, provider, …). */
  target: Record<string, string | number>;
}

export interface Finding {
  detector: DetectorName;
  /** Stable per problem: the same problem seen again maps to the same incident. */
  dedupeKey: string;
  severity: Severity;
  summary: string;
  subject: IncidentSubject;
  /** The tenant the problem belongs to, when it belongs to one (operators scoped to it see it). */
  tenantId?: string;
  /** The facts that triggered it, as JSON. */
  evidence: Record<string, unknown>;
  remediation?: RemediationOffer;
}

// ---------------------------------------------------------------------------------------------
// Incidents.
// ---------------------------------------------------------------------------------------------

export const incidentStates = ['open', 'awaiting_approval', 'remediating', 'resolved', 'failed'] as const;
export type IncidentState = (typeof incidentStates)[number];

export const incidentActions = ['approve', 'reject', 'retry', 'resolve'] as const;
export type IncidentAction = (typeof incidentActions)[number];

export interface RemediationAttempt {
  remediationId: RemediationId;
  status: 'succeeded' | 'failed' | 'skipped';
  detail: string;
  /** `supervisor` for automatic attempts, else the person who approved. */
  by: string;
  at: string;
}

export interface IncidentHistoryEntry {
  at: string;
  /** observed | evidence_cleared | decided | remediation | state */
  kind: string;
  detail: string;
  by?: string;
}

export interface IncidentDocument {
  incidentId: string;
  detector: DetectorName;
  dedupeKey: string;
  severity: Severity;
  state: IncidentState;
  summary: string;
  subject: IncidentSubject;
  /** The tenant the problem belongs to, when it belongs to one. */
  tenantId?: string;
  evidence: Record<string, unknown>;
  remediation?: Omit<RemediationOffer, 'target'> & { target: Record<string, string | number> };
  attempts: RemediationAttempt[];
  /** The most recent decisions and observations, bounded (the full record is the workflow history). */
  history: IncidentHistoryEntry[];
  /** How many times the supervisor has seen the problem. */
  observations: number;
  createdAt: string;
  updatedAt: string;
  resolvedAt?: string;
  /** Why it ended: `evidence_cleared`, `remediated`, `resolved_by_sre`, `rejected`, … */
  resolution?: string;
  temporal: { workflowId: string; uiUrl?: string };
}
