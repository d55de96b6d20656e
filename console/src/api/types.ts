/**
 * The API's answers as the console reads them. The vocabularies come from src/domain (pure, bundled by Vite, each
 * imported from its own file so no domain index drags in more than it names); the answer shapes are the zod schemas'
 * own types under src/api/<resource>/schemas.ts, imported as types only: no server code reaches the bundle.
 */
import type { z } from 'zod';
import type { auditListSchema } from '../../../src/api/audit/schemas';
import type { policySchema, spendQuerySchema, spendSchema, usageSchema } from '../../../src/api/budgets/schemas';
import type { diagnosticsSchema } from '../../../src/api/diagnostics/schemas';
import type { IncidentView } from '../../../src/api/incidents/schemas';
import type { modelPriceSchema, priceListSchema } from '../../../src/api/pricing/schemas';
import type { RunList, RunView } from '../../../src/api/runs/schemas';
import type { Session } from '../../../src/api/session/schemas';
import type { TaskView } from '../../../src/api/tasks/schemas';

export { scopeKinds, budgetMetrics, budgetWindows, budgetActions } from '../../../src/domain/budget/policy';
export { taskClasses, type TaskClass } from '../../../src/domain/routing/task-class';
export { runStates, terminalRunStates, type RunState } from '../../../src/domain/run-state';
export {
  detectorNames,
  incidentStates,
  severities,
  type IncidentAction,
  type IncidentState,
  type Severity,
} from '../../../src/domain/self-healing/types';
export { taskStates, type TaskOperatorAction as TaskAction, type TaskState } from '../../../src/domain/tasks/task-state';
export type { IncidentList } from '../../../src/api/incidents/schemas';
export type { RunList, StartRunResponse } from '../../../src/api/runs/schemas';
export type { Session } from '../../../src/api/session/schemas';

export type Capability = keyof Session['can'];

export type Run = RunView;
export type RunListItem = RunList['items'][number];
export type Task = TaskView;
export type Incident = IncidentView;

export type BudgetPolicy = z.infer<typeof policySchema>;
export type BudgetPolicyBody = Omit<BudgetPolicy, 'policyId' | 'source' | 'generation' | 'createdAt' | 'updatedAt'>;
export type BudgetUsage = z.infer<typeof usageSchema>;
export type PolicyWindow = BudgetUsage['policies'][number];

export type SpendGroupBy = z.infer<typeof spendQuerySchema>['groupBy'];
export type SpendBucket = z.infer<typeof spendQuerySchema>['bucket'];
export type SpendReport = z.infer<typeof spendSchema>;

export type ModelPrice = z.infer<typeof modelPriceSchema>;
export type PriceList = z.infer<typeof priceListSchema>;

export type AuditList = z.infer<typeof auditListSchema>;

/** What the diagnostics page reads of every section, whatever its figures. */
export type SectionStatus = 'ok' | 'degraded' | 'blocking' | 'unavailable';
export interface DiagnosticsSection {
  status: SectionStatus;
  reasonCodes: string[];
  hints: string[];
  durationMs: number;
  error?: string;
  [figure: string]: unknown;
}
export type Diagnostics = z.infer<typeof diagnosticsSchema>;
/** The order the page shows the sections in. */
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
] as const satisfies readonly (keyof Diagnostics['sections'])[];

// The doctor's answer stays written out: src/api/doctor/schemas.ts reaches the tokenizer, whose CommonJS-only
// subpaths the console's bundler resolution cannot type.
export type DoctorMode = 'diagnostics' | 'repair_preview' | 'repair_apply' | 'rollback_preview' | 'rollback_apply';
export type DoctorJobRequest =
  | { mode: 'diagnostics' | 'repair_preview' }
  | { mode: 'repair_apply'; planHash?: string }
  | { mode: 'rollback_preview' | 'rollback_apply'; runId: string };
export interface DoctorRepairStep {
  repair: string;
  title: string;
  touches: string;
  blastRadius: string;
  risky: boolean;
  target: Record<string, unknown>;
}
export type RollbackOutcome = 'undone' | 'not_undoable' | 'no_change' | 'refused' | 'failed';
export interface DoctorReport {
  schemaVersion: 1;
  mode: DoctorMode;
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
  /** A rollback's steps, last repair first. */
  rollback?: { runId: string; steps: { repair: string; outcome: RollbackOutcome; detail: string }[] };
}
export interface DoctorJob {
  jobId: string;
  mode: DoctorMode;
  /** The recovery run a rollback job undoes. */
  recoveryRunId: string | null;
  state: 'queued' | 'running' | 'succeeded' | 'failed';
  requestedBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  report: DoctorReport | null;
  /** Why the job could not run at all (a failing check is in the report). */
  error: string | null;
}
/** A recovery run's id as the API accepts it (a directory under the data dir). */
export const recoveryRunIdPattern = /^[\w.-]{1,100}$/;

/** The actions the audit page offers as a filter (the API takes any dotted name). */
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
