/**
 * `palyra doctor` as data (docs/architecture.md, Diagnostics and doctor): checks that say what is
 * wrong, repairs planned as steps that say what they touch, and recovery runs that record what each
 * step changed so it can be undone.
 */

export const checkIds = [
  'node_version',
  'config_valid',
  'data_dir_writable',
  'temporal_cli_present',
  'temporal_reachable',
  'namespace_exists',
  'search_attributes_registered',
  'supervisor_schedule',
  'run_queue_pollers',
  'ledger_reachable',
  'migrations_current',
  'expired_holds',
  'orphaned_holds',
  'incidents_stuck_remediating',
  'price_catalog_loaded',
  'api_reachable',
] as const;
export type CheckId = (typeof checkIds)[number];

export const repairIds = [
  'create_namespace',
  'register_search_attributes',
  'ensure_supervisor_schedule',
  'run_migrations',
  'expire_holds',
  'release_orphaned_holds',
] as const;
export type RepairId = (typeof repairIds)[number];

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skipped';

export interface CheckResult {
  id: CheckId;
  title: string;
  status: CheckStatus;
  detail: string;
  hint?: string;
  /** The repair that fixes it, when there is one. */
  repair?: RepairId;
}

/** One step of a repair plan: what it does, to what, and how far its effect reaches. */
export interface RepairStep {
  repair: RepairId;
  title: string;
  /** What it changes, named (a schedule id, reservation ids, migration names). */
  touches: string;
  blastRadius: string;
  /** Risky steps run only with `--force`. */
  risky: boolean;
  /** What the step acts on, stable for the plan hash. */
  target: Record<string, unknown>;
}

export interface RepairPlan {
  steps: RepairStep[];
  /** sha256 of the canonical steps: `--repair --plan <hash>` refuses a plan that changed since it was read. */
  hash: string;
}

export type StepChange = 'created' | 'modified' | 'deleted' | 'no_change' | 'failed';

/** What one applied step changed, with the state before and after, and how to undo it. */
export interface AppliedStep {
  step: RepairStep;
  change: StepChange;
  detail: string;
  before: unknown;
  after: unknown;
  /** Why it cannot be undone, when it cannot (expiring a hold, releasing one). */
  notUndoable?: string;
}

export interface RolledBackStep {
  repair: RepairId;
  outcome: 'undone' | 'refused' | 'not_undoable' | 'no_change' | 'failed';
  detail: string;
}

/** A recovery run, written under `<dataDir>/doctor/runs/<runId>/manifest.json`. */
export interface RecoveryManifest {
  schemaVersion: 1;
  runId: string;
  startedAt: string;
  finishedAt: string;
  planHash: string;
  steps: AppliedStep[];
  rollbacks: { at: string; force: boolean; steps: RolledBackStep[] }[];
}

/** Schema version of `palyra doctor --json`. */
export const doctorSchemaVersion = 1;
