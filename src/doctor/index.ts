import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { PalyraConfig } from '../config';
import { runChecks } from './checks';
import type { DoctorEnvironment } from './environment';
import { applyStep, planRepairs, rollbackStep } from './repairs';
import {
  doctorSchemaVersion,
  type AppliedStep,
  type CheckId,
  type CheckResult,
  type RecoveryManifest,
  type RepairPlan,
  type RepairStep,
  type RolledBackStep,
} from './types';

export * from './types';
export { checks } from './checks';
export { openDoctorEnvironment, type DoctorEnvironment } from './environment';

export type DoctorMode = 'diagnostics' | 'repair_preview' | 'repair_apply' | 'rollback_preview' | 'rollback_apply';

export interface DoctorSelection {
  only?: CheckId[];
  skip?: CheckId[];
  /** Warnings fail too. */
  strict?: boolean;
}

export type DoctorRequest =
  | ({ mode: 'diagnostics' } & DoctorSelection)
  | ({ mode: 'repair_preview' } & DoctorSelection)
  | ({ mode: 'repair_apply'; planHash?: string; force?: boolean } & DoctorSelection)
  | { mode: 'rollback_preview'; runId: string; force?: boolean }
  | { mode: 'rollback_apply'; runId: string; force?: boolean };

export interface DoctorReport {
  schemaVersion: typeof doctorSchemaVersion;
  mode: DoctorMode;
  /** The worst check after whatever was applied: `fail` (or `warn` under --strict) exits 1. */
  status: 'ok' | 'warn' | 'fail';
  exitCode: 0 | 1;
  checks: CheckResult[];
  plan?: RepairPlan;
  /** What `repair_apply` did, written as a recovery run. */
  recovery?: { runId: string; manifestPath: string; steps: AppliedStep[]; refused?: string };
  rollback?: { runId: string; steps: RolledBackStep[] };
}

/** sha256 over the canonical JSON of the steps: what `--plan <hash>` pins. */
export function planHashOf(steps: RepairStep[]): string {
  return createHash('sha256').update(canonicalJson(steps)).digest('hex').slice(0, 16);
}

export function recoveryRunsDir(config: Pick<PalyraConfig, 'dataDir'>): string {
  return path.join(config.dataDir, 'doctor', 'runs');
}

/**
 * `palyra doctor` (and the console's doctor jobs): diagnostics only, a repair preview (plan and
 * hash, zero writes), a repair (exactly the plan it would print; refused when `planHash` no longer
 * matches), or the rollback of a recovery run.
 */
export async function runDoctor(env: DoctorEnvironment, request: DoctorRequest): Promise<DoctorReport> {
  if (request.mode === 'rollback_preview' || request.mode === 'rollback_apply') return rollback(env, request);
  const selected = selector(request);
  const checks = await runChecks(env, selected);
  if (request.mode === 'diagnostics') return report(request.mode, checks, request.strict);
  const steps = await planRepairs(env, checks);
  const plan = { steps, hash: planHashOf(steps) };
  if (request.mode === 'repair_preview') return { ...report(request.mode, checks, request.strict), plan };

  const runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
  const manifestPath = path.join(recoveryRunsDir(env.config), runId, 'manifest.json');
  if (request.planHash !== undefined && request.planHash !== plan.hash) {
    const refused = `the plan changed since it was read (hash ${request.planHash}, now ${plan.hash}): read it again with --repair --dry-run`;
    return {
      ...report(request.mode, checks, request.strict),
      exitCode: 1,
      plan,
      recovery: { runId, manifestPath, steps: [], refused },
    };
  }
  if (steps.length === 0) {
    // Nothing to repair: no recovery run is written (a second --repair is a no-op).
    return { ...report(request.mode, checks, request.strict), plan, recovery: { runId: '', manifestPath: '', steps: [] } };
  }

  const startedAt = new Date().toISOString();
  const applied: AppliedStep[] = [];
  for (const step of steps) {
    if (step.risky && !request.force) {
      applied.push({ step, change: 'no_change', detail: 'risky: not applied without --force', before: null, after: null });
      continue;
    }
    try {
      applied.push({ step, ...(await applyStep(env, step)) });
    } catch (error) {
      applied.push({
        step,
        change: 'failed',
        detail: (error as Error).message.split('\n')[0] ?? 'failed',
        before: null,
        after: null,
      });
    }
  }
  const manifest: RecoveryManifest = {
    schemaVersion: 1,
    runId,
    startedAt,
    finishedAt: new Date().toISOString(),
    planHash: plan.hash,
    steps: applied,
    rollbacks: [],
  };
  writeManifest(manifestPath, manifest);
  const after = await runChecks(env, selected);
  const repaired = report(request.mode, after, request.strict);
  const failedStep = applied.some((step) => step.change === 'failed');
  return { ...repaired, exitCode: failedStep ? 1 : repaired.exitCode, plan, recovery: { runId, manifestPath, steps: applied } };
}

async function rollback(env: DoctorEnvironment, request: Extract<DoctorRequest, { runId: string }>): Promise<DoctorReport> {
  const manifestPath = path.join(recoveryRunsDir(env.config), request.runId, 'manifest.json');
  if (!/^[\w.-]+$/.test(request.runId) || !fs.existsSync(manifestPath)) {
    throw new DoctorUsageError(`no recovery run ${request.runId} under ${recoveryRunsDir(env.config)}`);
  }
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as RecoveryManifest;
  const steps: RolledBackStep[] = [];
  // In reverse order: a later step may depend on an earlier one (attributes before a schedule).
  for (const applied of [...manifest.steps].reverse()) {
    if (applied.change === 'no_change' || applied.change === 'failed') {
      steps.push({
        repair: applied.step.repair,
        outcome: 'no_change',
        detail: `the repair ${applied.change === 'failed' ? 'failed' : 'changed nothing'}`,
      });
      continue;
    }
    if (request.mode === 'rollback_preview') {
      steps.push({
        repair: applied.step.repair,
        outcome: applied.notUndoable ? 'not_undoable' : 'undone',
        detail: applied.notUndoable ?? `would undo: ${applied.detail}`,
      });
      continue;
    }
    try {
      steps.push({ repair: applied.step.repair, ...(await rollbackStep(env, applied, request.force ?? false)) });
    } catch (error) {
      steps.push({ repair: applied.step.repair, outcome: 'failed', detail: (error as Error).message.split('\n')[0] ?? 'failed' });
    }
  }
  if (request.mode === 'rollback_apply') {
    manifest.rollbacks.push({ at: new Date().toISOString(), force: request.force ?? false, steps });
    writeManifest(manifestPath, manifest);
  }
  const failed = steps.some((step) => step.outcome === 'failed' || step.outcome === 'refused');
  return {
    schemaVersion: doctorSchemaVersion,
    mode: request.mode,
    status: failed ? 'fail' : 'ok',
    exitCode: failed ? 1 : 0,
    checks: [],
    rollback: { runId: request.runId, steps },
  };
}

/** Bad usage of the doctor (exit 2): an unknown check id, a recovery run that does not exist. */
export class DoctorUsageError extends Error {
  override readonly name = 'DoctorUsageError';
}

function selector({ only, skip }: DoctorSelection): (id: CheckId) => boolean {
  return (id) => (only === undefined || only.length === 0 || only.includes(id)) && !(skip ?? []).includes(id);
}

function report(mode: DoctorMode, checks: CheckResult[], strict = false): DoctorReport {
  const status = checks.some((check) => check.status === 'fail')
    ? 'fail'
    : checks.some((check) => check.status === 'warn')
      ? 'warn'
      : 'ok';
  const failing = status === 'fail' || (strict && status === 'warn');
  return { schemaVersion: doctorSchemaVersion, mode, status, exitCode: failing ? 1 : 0, checks };
}

function writeManifest(file: string, manifest: RecoveryManifest): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // Written whole then renamed, so a crash never leaves half a manifest.
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}
