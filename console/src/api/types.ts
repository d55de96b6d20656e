/**
 * The API's answers as the console reads them, mirroring the zod schemas under src/api/<resource>/schemas.ts.
 * Written out rather than imported: the console is built for the browser and must not pull server code in.
 */
export const runStates = ['queued', 'awaiting_approval', 'running', 'succeeded', 'failed', 'cancelled', 'denied'] as const;
export type RunState = (typeof runStates)[number];
export const terminalRunStates: readonly RunState[] = ['succeeded', 'failed', 'cancelled', 'denied'];

export const taskClasses = [
  'primary_interactive',
  'background_automation',
  'auxiliary_summary',
  'auxiliary_extraction',
  'auxiliary_classification',
  'auxiliary_vision',
] as const;
export type TaskClass = (typeof taskClasses)[number];

export const taskStates = [
  'queued',
  'paused',
  'running',
  'cancel_requested',
  'succeeded',
  'failed',
  'cancelled',
  'expired',
] as const;
export type TaskState = (typeof taskStates)[number];
export type TaskAction = 'pause' | 'resume' | 'retry' | 'cancel';

export const severities = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof severities)[number];
export const incidentStates = ['open', 'awaiting_approval', 'remediating', 'resolved', 'failed'] as const;
export type IncidentState = (typeof incidentStates)[number];
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
export type IncidentAction = 'approve' | 'reject' | 'retry' | 'resolve';

export const scopeKinds = ['global', 'tenant', 'principal', 'model'] as const;
export const budgetMetrics = ['cost', 'tokens'] as const;
export const budgetWindows = ['day', 'week', 'month', 'total'] as const;
export const budgetActions = ['block', 'approval_required', 'downgrade'] as const;

export const roles = ['service', 'operator', 'sre', 'admin'] as const;
export type Role = (typeof roles)[number];

export interface Session {
  name: string;
  role: Role;
  tenants: string[] | null;
  allTenants: boolean;
  can: {
    startRun: boolean;
    cancelRun: boolean;
    decideApproval: boolean;
    controlTask: boolean;
    decideIncident: boolean;
    resumeTenant: boolean;
    readBudgets: boolean;
    editBudget: boolean;
    editPricing: boolean;
    readDiagnostics: boolean;
    runDoctorPreview: boolean;
    applyDoctor: boolean;
    readAudit: boolean;
  };
}
export type Capability = keyof Session['can'];

export interface TemporalLink {
  workflowId: string;
  runId: string | null;
  uiUrl: string | null;
}

export interface ModelChoice {
  requested: string | null;
  selected: string;
}

export interface Task {
  taskId: string;
  runId: string;
  kind: 'summary' | 'extraction' | 'classification' | 'delegated_run';
  state: TaskState;
  attempt: number;
  maxAttempts: number;
  priority: number;
  sequence: number;
  notBefore?: string;
  expiresAt?: string;
  timeoutMs?: number;
  budgetTokens?: number;
  model: ModelChoice;
  costMicroUsd: number;
  result?: string;
  error?: { code: string; message: string };
  dispatches: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  temporal: TemporalLink;
}

export interface RoutingCandidate {
  modelId: string;
  providerId: string;
  tier: string;
  eligible: boolean;
  excludedBecause?: string;
  plannedOutputTokens: number;
  estimatedCostMicroUsd?: number;
}

export interface RoutingDecision {
  decisionId?: string;
  taskClass: TaskClass;
  mode: string;
  modeSource: 'config' | 'request';
  requestedModel: string | null;
  defaultModel: string;
  recommendedModel: string | null;
  selectedModel: string;
  action: string;
  reasonCodes: string[];
  explanations: string[];
  candidates: RoutingCandidate[];
  complexity: {
    score: number;
    suggestedTier: string;
    sizeTokens: number;
    sizePoints: number;
    jsonMode: boolean;
    hasVision: boolean;
  };
}

export interface RunAdmission {
  status: 'admitted' | 'denied' | 'awaiting_approval';
  reservationId: string;
  modelId: string;
  estimate: {
    inputTokens: number;
    maxOutputTokens: number;
    expectedMicroUsd: number;
    upperMicroUsd: number;
    source: string;
    precision: 'exact' | 'estimated';
    catalogVersion: string;
  };
  maxOutputTokens: number;
  clamped: boolean;
  reservedMicroUsd: number;
  refusal?: {
    policyId: string;
    window: string;
    periodKey: string;
    metric: string;
    action: string;
    spent: number;
    reserved: number;
    limit: number;
    requested: number;
    message: string;
  };
}

export interface Run {
  runId: string;
  tenantId: string;
  principalId: string;
  state: RunState;
  model: ModelChoice;
  usage: { inputTokens: number; outputTokens: number; estimated: boolean } | null;
  costMicroUsd: number;
  routing?: RoutingDecision;
  chargedAttempts?: { attempt: number; inputTokens: number; outputTokens: number; failure: string }[];
  admission?: RunAdmission;
  approval?: { decision: 'approve' | 'deny'; note?: string; decidedBy: string; decidedAt: string };
  output?: string;
  error?: { code: string; message: string };
  backgroundTasks: Task[];
  backgroundTasksCostMicroUsd?: number;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  temporal: TemporalLink;
}

export interface RunListItem extends Omit<Run, 'output'> {
  backgroundTaskCounts: { total: number; byState: Record<TaskState, number>; costMicroUsd: number };
}
export interface RunList {
  items: RunListItem[];
  nextCursor: string | null;
}

export interface StartRunResponse {
  runId: string;
  state: RunState;
  model: ModelChoice;
  maxOutputTokens: number;
  admission?: RunAdmission;
  backgroundTasks: Task[];
  temporal: TemporalLink;
}

export interface Incident {
  incidentId: string;
  detector: string;
  dedupeKey: string;
  severity: Severity;
  state: IncidentState;
  summary: string;
  subject: { kind: string; id: string };
  tenantId?: string;
  evidence: Record<string, unknown>;
  remediation?: {
    id: string;
    label: string;
    risk: 'low' | 'medium' | 'high';
    blastRadius: string;
    requiresApproval: boolean;
    autoExecutable: boolean;
    fixesProblem: boolean;
    target: Record<string, string | number>;
  };
  attempts: { remediationId: string; status: 'succeeded' | 'failed' | 'skipped'; detail: string; by: string; at: string }[];
  history: { at: string; kind: string; detail: string; by?: string }[];
  observations: number;
  createdAt: string;
  updatedAt: string;
  resolvedAt?: string;
  resolution?: string;
  temporal: TemporalLink;
}
export interface IncidentList {
  items: Incident[];
  nextCursor: string | null;
}

export interface BudgetPolicy {
  policyId: string;
  scope: { kind: (typeof scopeKinds)[number]; id?: string };
  metric: (typeof budgetMetrics)[number];
  window: (typeof budgetWindows)[number];
  softLimit?: number;
  hardLimit: number;
  action: (typeof budgetActions)[number];
  enabled: boolean;
  source: 'api' | 'config';
  generation: number;
  createdAt: string;
  updatedAt: string;
}
export type BudgetPolicyBody = Omit<BudgetPolicy, 'policyId' | 'source' | 'generation' | 'createdAt' | 'updatedAt'>;

export interface BudgetAlert {
  threshold: 'pct80' | 'pct95' | 'soft' | 'hard';
  committed: number;
  limit: number;
  createdAt: string;
}
export interface PolicyWindow {
  policyId: string;
  scope: { kind: string; id?: string };
  metric: 'cost' | 'tokens';
  window: string;
  periodKey: string;
  spent: number;
  reserved: number;
  limit: number;
  softLimit?: number;
  utilization: number;
  status: 'ok' | 'soft_limit' | 'hard_limit';
  enabled: boolean;
  alerts: BudgetAlert[];
}
export interface BudgetUsage {
  at: string;
  policies: PolicyWindow[];
}

export type SpendGroupBy = 'tenant' | 'model' | 'policy';
export type SpendBucket = 'hour' | 'day';
export interface SpendReport {
  groupBy: SpendGroupBy;
  bucket: SpendBucket;
  since: string;
  until: string;
  series: { key: string; totalMicroUsd: number; points: { start: string; costMicroUsd: number; tokens: number }[] }[];
}

export interface ModelPrice {
  modelId: string;
  provider: string | null;
  inputMicroUsdPerMTok: number | null;
  outputMicroUsdPerMTok: number | null;
  inputPerMTokUsd: number | null;
  outputPerMTokUsd: number | null;
  source: 'config' | 'override' | 'catalog' | null;
  catalogVersion: string;
}
export interface PriceList {
  catalogVersion: string;
  items: ModelPrice[];
}

export type SectionStatus = 'ok' | 'degraded' | 'blocking' | 'unavailable';
export interface DiagnosticsSection {
  status: SectionStatus;
  reasonCodes: string[];
  hints: string[];
  durationMs: number;
  error?: string;
  [figure: string]: unknown;
}
export const diagnosticsSectionNames = [
  'temporal',
  'taskQueues',
  'ledger',
  'budgets',
  'routing',
  'backgroundTasks',
  'selfHealing',
  'supervisor',
  'process',
  'config',
] as const;
export interface Diagnostics {
  contractVersion: 1;
  generatedAt: string;
  status: 'ok' | 'degraded' | 'blocking';
  durationMs: number;
  sections: Record<(typeof diagnosticsSectionNames)[number], DiagnosticsSection>;
}

export type DoctorMode = 'diagnostics' | 'repair_preview' | 'repair_apply';
export interface DoctorRepairStep {
  repair: string;
  title: string;
  touches: string;
  blastRadius: string;
  risky: boolean;
  target: Record<string, unknown>;
}
export interface DoctorReport {
  schemaVersion: 1;
  mode: string;
  status: 'ok' | 'warn' | 'fail';
  exitCode: 0 | 1;
  checks: {
    id: string;
    title: string;
    status: 'ok' | 'warn' | 'fail' | 'skipped';
    detail: string;
    hint?: string;
    repair?: string;
  }[];
  plan?: { steps: DoctorRepairStep[]; hash: string };
  recovery?: {
    runId: string;
    manifestPath: string;
    steps: { step: DoctorRepairStep; change: string; detail: string; before: unknown; after: unknown; notUndoable?: string }[];
    refused?: string;
  };
  rollback?: { runId: string; steps: { repair: string; outcome: string; detail: string }[] };
}
export interface DoctorJob {
  jobId: string;
  mode: DoctorMode;
  state: 'queued' | 'running' | 'succeeded' | 'failed';
  requestedBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  report: DoctorReport | null;
  error: string | null;
}

export interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  role: string;
  tenantId: string | null;
  action: string;
  target: string | null;
  outcome: 'succeeded' | 'refused';
  status: number;
  errorCode: string | null;
  detail: Record<string, unknown> | null;
  requestId: string;
}
export interface AuditList {
  items: AuditEntry[];
  nextCursor: string | null;
}
export const auditActions = [
  'run.approve',
  'run.deny',
  'run.cancel',
  'budget.policy.put',
  'budget.policy.delete',
  'pricing.override.put',
  'task.pause',
  'task.resume',
  'task.retry',
  'task.cancel',
  'incident.approve',
  'incident.reject',
  'incident.retry',
  'incident.resolve',
  'tenant.resume',
  'doctor.job.start',
] as const;
