/**
 * Self-healing over Temporal: the supervisor schedule and workflow, incident workflows and the
 * messages that drive them (docs/architecture.md, Self-healing).
 * Part of the contracts (see index.ts): bundled into workflow code, so no Node built-ins or I/O.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  DetectorName,
  Finding,
  IncidentAction,
  IncidentDocument,
  RemediationAttempt,
  SelfHealingMode,
  SupervisorEvidence,
} from '../../domain/self-healing/types';
import type { SkipCause } from '../../domain/self-healing/incident';
import type { SelfHealingSettings } from '../../domain/self-healing/settings';

/**
 * The supervisor's workflow type. Its task queue is `temporal.supervisorTaskQueue` (default
 * `palyra-supervisor`, polled by the API process and workers), which also names its schedule and the
 * workflow ids of its ticks (the schedule appends the scheduled time).
 */
export const supervisorWorkflowType = 'supervisorWorkflow';

export const incidentWorkflowType = 'incidentWorkflow';
/** `incident-<first 16 hex of sha256(detector + ':' + dedupeKey)>`; computed by `incidentIdOf` outside workflows. */
export const incidentWorkflowIdPrefix = 'incident-';
export const incidentWorkflowId = (incidentId: string): string => incidentId;

/**
 * Inputs of one supervisor tick, snapshotted from config when the schedule is created or updated at
 * start-up: the detectors run in the workflow, so their thresholds are in its history.
 */
export interface SupervisorWorkflowInput {
  /** The run task queue whose pollers `no_pollers` watches. */
  runTaskQueue: string;
  supervisorTaskQueue: string;
  settings: SelfHealingSettings;
}

export interface SupervisorTickResult {
  observedAt: string;
  findings: number;
  /** Incidents opened or refreshed, by detector. */
  byDetector: Partial<Record<DetectorName, number>>;
  /** Open incidents whose evidence had cleared and were told so. */
  cleared: number;
  /** Evidence sources that could not be read. */
  unavailable: SupervisorEvidence['unavailable'];
}

/** Input of a new incident workflow (the first finding), also the carried state on continue-as-new. */
export interface IncidentWorkflowInput {
  incidentId: string;
  finding: Finding;
  /** Mode in force for the detector when the incident opened (later observations carry the current one). */
  mode: SelfHealingMode;
  /**
   * The tick's time, also sent as the `at` of the signal-with-start's observation, so the opening
   * finding is not counted twice.
   */
  openedAt?: string;
  /** The incident's page in the Temporal UI, when the UI's address is known. */
  uiUrl?: string;
  /** Set on continue-as-new: the document so far. */
  carried?: IncidentDocument;
}

/** The supervisor saw the problem again: fresher evidence. Sent with signal-with-start. */
export const incidentObservedSignal = defineSignal<[IncidentObservation]>('observed');
export interface IncidentObservation {
  finding: Finding;
  mode: SelfHealingMode;
  at: string;
}

/** The supervisor looked and the problem was gone (fresh heartbeat, run ended, approval decided). */
export const incidentClearedSignal = defineSignal<[{ at: string; detail: string }]>('evidenceCleared');

/**
 * A person's decision. Usable from the Temporal CLI and UI:
 * `temporal workflow signal --workflow-id incident-… --name decide --input '{"action":"approve","by":"alice"}'`.
 * An illegal decision is recorded in the incident's history as ignored, with the reason.
 */
export const incidentDecideSignal = defineSignal<[IncidentDecision]>('decide');
export interface IncidentDecision {
  action: IncidentAction;
  by: string;
  note?: string;
}

/** The same decision through the API: the validator refuses an illegal one (409 naming the state). */
export const incidentDecideUpdate = defineUpdate<IncidentDocument, [IncidentDecision]>('decideIncident');

export const incidentStateQuery = defineQuery<IncidentDocument>('incident');

/** Memo key holding the incident document (bounded: history entries are capped). */
export const incidentMemoKey = 'incident';

export interface RemediationRequest {
  incidentId: string;
  detector: DetectorName;
  /** The problem the remediation is for: re-checked in fresh evidence right before acting. */
  dedupeKey: string;
  remediation: NonNullable<IncidentDocument['remediation']>;
  /** `supervisor` for an automatic attempt, else the approver. */
  by: string;
  /**
   * Made by the workflow per attempt: the ledger slot's id, so a retried activity (its worker died
   * mid-action) finds the slot it took and never acts twice.
   */
  slotId: string;
}
export type RemediationResult = Pick<RemediationAttempt, 'status' | 'detail'> & {
  /** Why a skipped attempt did nothing: the evidence was gone, or the throttle or breaker held it. */
  skipCause?: SkipCause;
};
