import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../../config';
import {
  checkIds,
  doctorSchemaVersion,
  DoctorUsageError,
  openDoctorEnvironment,
  runDoctor,
  type CheckId,
  type CheckResult,
  type DoctorReport,
  type DoctorRequest,
} from '../../doctor';

interface DoctorFlags {
  repair?: boolean;
  dryRun?: boolean;
  plan?: string;
  rollbackRun?: string;
  json?: boolean;
  only?: string;
  skip?: string;
  strict?: boolean;
  force?: boolean;
}

/** Bad usage exits 2; a failing check or repair 1; otherwise 0. */
const usageExitCode = 2;

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('diagnose this installation; --repair fixes what it can, --rollback-run undoes a repair')
    .option('--repair', 'plan and apply the repairs for failing checks (writes a recovery run under the data dir)')
    .option('--dry-run', 'with --repair or --rollback-run: print what would be done, change nothing')
    .option('--plan <hash>', 'with --repair: apply only if the plan still has this hash (from --repair --dry-run)')
    .option('--rollback-run <id>', 'undo a recovery run, last step first')
    .option('--json', `print the report as JSON (schemaVersion ${doctorSchemaVersion})`)
    .option('--only <ids>', `comma-separated check ids (${checkIds.join(', ')})`)
    .option('--skip <ids>', 'comma-separated check ids to leave out')
    .option('--strict', 'warnings fail too')
    .option('--force', 'apply risky repairs; roll back steps whose target changed since the repair')
    .action(async (flags: DoctorFlags) => {
      process.exitCode = await doctor(flags);
    });
}

async function doctor(flags: DoctorFlags): Promise<number> {
  let request: DoctorRequest;
  try {
    request = requestOf(flags);
  } catch (error) {
    process.stderr.write(`palyra doctor: ${(error as Error).message}\n`);
    return usageExitCode;
  }

  let config;
  try {
    config = loadConfig().config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Nothing else can be checked without a config: report that one check, failing.
    const failed: CheckResult = { id: 'config_valid', title: 'Configuration valid', status: 'fail', detail: error.message };
    return print(flags, {
      schemaVersion: doctorSchemaVersion,
      mode: request.mode,
      status: 'fail',
      exitCode: 1,
      checks: [failed],
    });
  }

  const env = openDoctorEnvironment(config);
  try {
    return print(flags, await runDoctor(env, request));
  } catch (error) {
    if (error instanceof DoctorUsageError) {
      process.stderr.write(`palyra doctor: ${error.message}\n`);
      return usageExitCode;
    }
    throw error;
  } finally {
    await env.close();
  }
}

function requestOf(flags: DoctorFlags): DoctorRequest {
  if (flags.repair && flags.rollbackRun !== undefined) throw new Error('--repair and --rollback-run cannot be combined');
  if (flags.rollbackRun !== undefined && (flags.only !== undefined || flags.skip !== undefined)) {
    throw new Error('--rollback-run undoes a whole recovery run: --only and --skip do not apply');
  }
  if (flags.plan !== undefined && (!flags.repair || flags.dryRun))
    throw new Error('--plan goes with --repair (without --dry-run)');
  if (flags.dryRun && !flags.repair && flags.rollbackRun === undefined)
    throw new Error('--dry-run goes with --repair or --rollback-run');
  const selection = {
    ...(flags.only !== undefined ? { only: checkIdsOf(flags.only, '--only') } : {}),
    ...(flags.skip !== undefined ? { skip: checkIdsOf(flags.skip, '--skip') } : {}),
    ...(flags.strict ? { strict: true } : {}),
  };
  if (flags.rollbackRun !== undefined) {
    return {
      mode: flags.dryRun ? 'rollback_preview' : 'rollback_apply',
      runId: flags.rollbackRun,
      ...(flags.force ? { force: true } : {}),
    };
  }
  if (flags.repair && flags.dryRun) return { mode: 'repair_preview', ...selection };
  if (flags.repair) {
    return {
      mode: 'repair_apply',
      ...selection,
      ...(flags.plan !== undefined ? { planHash: flags.plan } : {}),
      ...(flags.force ? { force: true } : {}),
    };
  }
  return { mode: 'diagnostics', ...selection };
}

function checkIdsOf(list: string, flag: string): CheckId[] {
  const ids = list
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '');
  const unknown = ids.filter((id) => !(checkIds as readonly string[]).includes(id));
  if (unknown.length > 0) throw new Error(`${flag}: unknown check id(s) ${unknown.join(', ')}; known: ${checkIds.join(', ')}`);
  return ids as CheckId[];
}

const marks: Record<CheckResult['status'], string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skipped: 'skip' };

function print(flags: DoctorFlags, report: DoctorReport): number {
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return report.exitCode;
  }
  const lines: string[] = [];
  if (report.checks.length > 0) {
    const count = (status: CheckResult['status']) => report.checks.filter((check) => check.status === status).length;
    lines.push(
      `palyra doctor: ${count('fail')} failing, ${count('warn')} warning, ${count('ok')} ok, ${count('skipped')} skipped`,
    );
    for (const check of report.checks) {
      lines.push(`  ${marks[check.status]}  ${check.id.padEnd(30)} ${check.detail}`);
      if (check.hint) lines.push(`        hint: ${check.hint}`);
      if (check.repair && check.status !== 'ok') lines.push(`        repair: ${check.repair} (palyra doctor --repair)`);
    }
  }
  if (report.plan && report.mode === 'repair_preview') {
    if (report.plan.steps.length === 0) lines.push('Nothing to repair.');
    else {
      lines.push(`Repair plan ${report.plan.hash} (${report.plan.steps.length} step(s)):`);
      report.plan.steps.forEach((step, i) => {
        lines.push(`  ${i + 1}. ${step.title}${step.risky ? ' [risky: needs --force]' : ''}`);
        lines.push(`     touches: ${step.touches}`);
        lines.push(`     blast radius: ${step.blastRadius}`);
      });
      lines.push(`Apply exactly this plan: palyra doctor --repair --plan ${report.plan.hash}`);
    }
  }
  if (report.recovery) {
    if (report.recovery.refused) lines.push(`Refused: ${report.recovery.refused}`);
    else if (report.recovery.steps.length === 0) lines.push('Nothing to repair.');
    else {
      lines.push(`Recovery run ${report.recovery.runId} (manifest ${report.recovery.manifestPath}):`);
      for (const applied of report.recovery.steps)
        lines.push(`  ${applied.change.padEnd(9)} ${applied.step.repair}: ${applied.detail}`);
      lines.push(`Undo it: palyra doctor --rollback-run ${report.recovery.runId}`);
    }
  }
  if (report.rollback) {
    lines.push(`Rollback of ${report.rollback.runId}${report.mode === 'rollback_preview' ? ' (dry run: nothing changed)' : ''}:`);
    for (const step of report.rollback.steps) lines.push(`  ${step.outcome.padEnd(12)} ${step.repair}: ${step.detail}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return report.exitCode;
}
