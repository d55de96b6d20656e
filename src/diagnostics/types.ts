import type { BreakerState } from '../domain/routing';
import type { DetectorName, IncidentState, RemediationId, SelfHealingMode, Severity } from '../domain/self-healing';
import type { TaskState } from '../domain/tasks';
import type { WindowReport } from '../ledger';

/** Bumped only when a field is removed or changes meaning; new fields do not bump it. */
export const diagnosticsContractVersion = 1;

/**
 * A section's verdict. `unavailable`: it could not be gathered (an error or its deadline); the
 * overall status counts it as `degraded`, since what it would have said is unknown, not known bad.
 */
export const sectionStatuses = ['ok', 'degraded', 'blocking', 'unavailable'] as const;
export type SectionStatus = (typeof sectionStatuses)[number];
export const overallStatuses = ['ok', 'degraded', 'blocking'] as const;
export type OverallStatus = (typeof overallStatuses)[number];

/** What a section's gatherer concludes beside its figures. */
export interface SectionVerdict {
  status: Exclude<SectionStatus, 'unavailable'>;
  /** Stable codes (snake_case) for machines; empty when `ok`. */
  reasonCodes: string[];
  /** One sentence each: what to look at or do. */
  hints: string[];
}

interface SectionTiming {
  /** How long gathering it took. */
  durationMs: number;
}

/** A section that could not be gathered: its figures are absent, `error` says why. */
export interface UnavailableSection extends SectionTiming {
  status: 'unavailable';
  reasonCodes: string[];
  hints: string[];
  error: string;
}

export type Section<Figures> = (SectionVerdict & SectionTiming & Figures) | UnavailableSection;

export interface TemporalFigures {
  address: string;
  namespace: string;
  reachable: boolean;
  /** Round trip of `getSystemInfo`. */
  latencyMs: number;
  serverVersion: string | null;
  namespaceState: string | null;
  /** Palyra's search attributes the namespace lacks (null when they could not be listed). */
  missingSearchAttributes: string[] | null;
}

export interface PollerFigures {
  identity: string;
  lastAccessAt: string | null;
  /** Listed with a last access within `longPollMs`: its long poll may still be open. */
  polling: boolean;
  buildId: string | null;
}

export interface TaskQueueFigures {
  name: string;
  role: 'runs' | 'supervisor';
  status: SectionVerdict['status'];
  workflowPollers: PollerFigures[];
  activityPollers: PollerFigures[];
  /** Tasks waiting, when the server reports it (null otherwise). */
  backlog: { workflowTasks: number | null; activityTasks: number | null };
  buildIds: string[];
}

export interface TaskQueuesFigures {
  queues: TaskQueueFigures[];
}

export interface LedgerFigures {
  dialect: 'sqlite' | 'postgres';
  /** Where the ledger is, password removed. */
  location: string;
  migrations: { applied: number; known: number; pending: string[]; unknown: string[] };
  reservations: {
    pending: number;
    pendingPastExpiry: number;
    oldestPendingAgeMs: number | null;
    /** How long the most overdue pending hold has outlived its expiry. */
    mostOverdueMs: number | null;
  };
  sweeper: {
    intervalMs: number;
    /** Whether this process runs one (`palyra doctor` does not; the API and the workers do). */
    runningHere: boolean;
    sweeps: number | null;
    lastSweepAt: string | null;
    lastExpiredCount: number | null;
    expiryFailuresTotal: number | null;
    sweepFailuresTotal: number | null;
    lastFailure: { at: string; reservationId?: string; message: string } | null;
  };
}

export interface BudgetAlertFigures {
  policyId: string;
  threshold: string;
  committed: number;
  limit: number;
  createdAt: string;
}

export interface BudgetsFigures {
  /** Each policy's current window, as the ledger reports it (its alerts are in `recentAlerts`). */
  policies: Omit<WindowReport, 'alerts'>[];
  /** Policies beyond the first `maxBudgetPolicies` are left out. */
  truncated: boolean;
  /** Alerts of the current windows, newest first. */
  recentAlerts: BudgetAlertFigures[];
}

export interface RoutingFigures {
  mode: string;
  defaultModel: string;
  providers: {
    providerId: string;
    kind: string;
    /** This process's breaker (`unknown`: this process does not route, e.g. `palyra doctor`). */
    breaker: BreakerState | 'unknown';
    /** An installation-wide override opened by a remediation, while open. */
    override: { openUntil: string; reason: string; openedBy: string } | null;
    /** What routing sees: `open` when either says so. */
    effective: BreakerState | 'unknown';
  }[];
  recentDecisions: {
    decisionId: string;
    runId: string | null;
    tenantId: string;
    action: string;
    requestedModel: string | null;
    selectedModel: string;
    reasonCodes: string[];
    createdAt: string;
  }[];
}

export interface BackgroundTasksFigures {
  /** Task states summed over the open runs read (from each run's memo). */
  byState: Record<TaskState, number>;
  /** Task child workflows running now. */
  runningChildren: number;
  openRunsRead: number;
  /** More open runs than were read: counts cover the newest only. */
  truncated: boolean;
  /** The oldest open run (of those read) that has queued tasks; its start bounds their wait. */
  oldestQueued: { runId: string; runStartedAt: string; ageMs: number } | null;
}

export interface IncidentFigures {
  incidentId: string;
  detector: DetectorName;
  severity: Severity;
  state: IncidentState;
  summary: string;
  updatedAt: string;
}

export interface SelfHealingFigures {
  mode: SelfHealingMode;
  /** Null when visibility could not be read (see `reasonCodes`). */
  openIncidents: { items: IncidentFigures[]; truncated: boolean } | null;
  recentRemediations: {
    incidentId: string;
    remediationId: RemediationId;
    status: string;
    detail: string;
    by: string;
    at: string;
    finishedAt: string | null;
  }[];
  /** Whether the gate would let a remediation through now, and why not. */
  nextRemediation: { allowed: boolean; reason: string | null };
  throttle: { maxPerMinute: number; claimsLastMinute: number };
  circuitBreaker: { state: 'closed' | 'open' | 'half_open'; consecutiveFailures: number; openMs: number };
}

export interface SupervisorFigures {
  scheduleId: string;
  present: boolean;
  paused: boolean | null;
  note: string | null;
  intervalMs: number;
  lastActionAt: string | null;
  nextActionAt: string | null;
  lastTick: {
    startedAt: string;
    durationMs: number;
    findings: number;
    error: string | null;
    ticks: number;
    recordedAt: string;
    ageMs: number;
  } | null;
}

export interface StartupStepFigures {
  step: string;
  durationMs: number;
  budgetMs: number;
  overBudget: boolean;
}

export interface ProcessFigures {
  version: string;
  pid: number;
  nodeVersion: string;
  uptimeMs: number;
  memory: { rssBytes: number; rssBaselineBytes: number; heapUsedBytes: number; heapTotalBytes: number };
  /** Since the monitor started (first diagnostics of the process). */
  eventLoopDelay: { p50Ms: number; p99Ms: number; maxMs: number; samples: number };
  /** Null when the process did not record its start-up (tests, `palyra doctor`). */
  startup: StartupStepFigures[] | null;
}

export interface ConfigFigures {
  /** The effective config, every secret replaced by `[redacted]`. */
  effective: unknown;
}

/** Each section's figures, by section name, in the order the answer lists them. */
export interface SectionFigures {
  temporal: TemporalFigures;
  taskQueues: TaskQueuesFigures;
  ledger: LedgerFigures;
  budgets: BudgetsFigures;
  routing: RoutingFigures;
  backgroundTasks: BackgroundTasksFigures;
  selfHealing: SelfHealingFigures;
  supervisor: SupervisorFigures;
  process: ProcessFigures;
  config: ConfigFigures;
}

export type DiagnosticsSections = { [Name in keyof SectionFigures]: Section<SectionFigures[Name]> };

export type SectionName = keyof DiagnosticsSections;

export interface DiagnosticsSnapshot {
  contractVersion: typeof diagnosticsContractVersion;
  generatedAt: string;
  status: OverallStatus;
  durationMs: number;
  sections: DiagnosticsSections;
}
