import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client, Connection } from '@temporalio/client';
import Long from 'long';
import { configSchema, type PalyraConfig } from '../../src/config';
import { openLedger, type LedgerConnection } from '../../src/ledger/database';
import { createLedgerRepository, type LedgerRepository } from '../../src/ledger';
import { appliedLedgerMigrations, migrateLedger, migrateLedgerDown } from '../../src/ledger/migrations';
import { deleteSupervisorSchedule, ensureSupervisorSchedule, supervisorScheduleId } from '../../src/temporal/supervisor-schedule';
import { cliEnv, runCli } from '../support/processes';
import { connectTestClient, startTestWorker, testTemporalAddress, uniqueTaskQueue } from '../support/temporal';

/**
 * `palyra doctor` as an operator runs it (the CLI in its own process) against the real dev server
 * and a real SQLite ledger, breaking each thing for real: it reports the problem by its check id and
 * exits 1, `--repair --dry-run` changes nothing, `--repair` fixes it, a second `--repair` is a no-op,
 * and a recovery run rolls back.
 */
const secrets = {
  adminToken: 'doctor-admin-secret-token-4242',
  providerKey: 'sk-doctor-provider-secret-9999',
};

// Each case runs the CLI several times, a few seconds each on a loaded CI machine.
jest.setTimeout(240_000);

let dataDir: string;
let configFile: string;
let config: PalyraConfig;
let client: Client;
let connection: Connection;
let ledgerConnection: LedgerConnection;
let ledger: LedgerRepository;

function writeConfig(overrides: Record<string, unknown> = {}): string {
  const file = path.join(dataDir, `palyra-${randomUUID()}.config.yaml`);
  fs.writeFileSync(file, JSON.stringify({ ...baseConfig(), ...overrides }));
  return file;
}

function baseConfig() {
  return {
    dataDir,
    logLevel: 'silent',
    server: { port: 1 },
    temporal: {
      address: testTemporalAddress(),
      taskQueue: config?.temporal.taskQueue ?? uniqueTaskQueue(),
      supervisorTaskQueue: config?.temporal.supervisorTaskQueue ?? uniqueTaskQueue('supervisor'),
    },
    auth: { tokens: [{ name: 'admin', token: secrets.adminToken, role: 'admin', tenants: ['*'] }] },
    providers: [
      { id: 'simulated', kind: 'simulated' },
      { id: 'vendor', kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1', apiKeyEnv: 'DOCTOR_VENDOR_KEY' },
    ],
    selfHealing: { detectors: { orphaned_reservation: { graceMs: 500 } } },
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the doctor's report as JSON, asserted field by field
type Json = any;

async function doctor(
  args: string[],
  file = configFile,
): Promise<{ code: number | null; stdout: string; stderr: string; json?: Json }> {
  const cli = runCli(['doctor', ...args], cliEnv({ PALYRA_CONFIG: file, DOCTOR_VENDOR_KEY: secrets.providerKey }));
  cli.child.stdin.end();
  const { code } = await cli.exited;
  const stdout = cli.stdout();
  let json;
  if (args.includes('--json')) json = JSON.parse(stdout);
  for (const secret of Object.values(secrets)) {
    expect(stdout).not.toContain(secret);
    expect(cli.stderr()).not.toContain(secret);
  }
  return { code, stdout, stderr: cli.stderr(), json };
}

const check = (report: Json, id: string) => report.checks.find((c: { id: string }) => c.id === id);

/** Everything the doctor could change, to prove a dry run changes nothing. */
async function snapshot() {
  const tables = ['reservations', 'holds', 'kysely_migration', 'remediation_log', 'ledger_meta'];
  const rows: Record<string, unknown> = {};
  for (const table of tables)
    rows[table] = await ledgerConnection.db
      .selectFrom(table as never)
      .selectAll()
      .execute()
      .catch(() => 'absent');
  const schedule = await client.schedule
    .getHandle(supervisorScheduleId(config))
    .describe()
    .then((d) => ({ paused: d.state.paused }))
    .catch(() => 'absent');
  return {
    rows,
    schedule,
    manifests: fs.existsSync(path.join(dataDir, 'doctor')) ? fs.readdirSync(path.join(dataDir, 'doctor', 'runs')) : [],
  };
}

let worker: { stop(): Promise<void> } | undefined;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-doctor-'));
  config = configSchema.parse(baseConfig());
  configFile = writeConfig();
  ({ client, connection } = await connectTestClient());
  ledgerConnection = openLedger({ dataDir });
  await migrateLedger(ledgerConnection.db as never, 'sqlite');
  ledger = createLedgerRepository({ connection: ledgerConnection });
  await ensureSupervisorSchedule(client, config);
});
afterAll(async () => {
  await worker?.stop();
  await deleteSupervisorSchedule(client, config).catch(() => undefined);
  await ledgerConnection?.close();
  await connection?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('palyra doctor', () => {
  it('reports every check; a run queue nobody polls fails until a worker polls it', async () => {
    const before = await doctor(['--json']);
    expect(before.code).toBe(1);
    expect(before.json.schemaVersion).toBe(1);
    expect(before.json.checks.map((c: { id: string }) => c.id)).toEqual([
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
    ]);
    expect(check(before.json, 'run_queue_pollers')).toMatchObject({ status: 'fail' });
    expect(check(before.json, 'temporal_cli_present')).toMatchObject({ status: 'skipped' });
    expect(check(before.json, 'api_reachable')).toMatchObject({ status: 'warn' });

    worker = await startTestWorker(config, ledger);
    const after = await doctor(['--json']);
    expect(after.json.checks.filter((c: { status: string }) => c.status === 'fail')).toEqual([]);
    expect(after.code).toBe(0);
    // Warnings fail under --strict (the API is not running here).
    expect((await doctor(['--strict'])).code).toBe(1);
  });

  it('a deleted schedule: reported, previewed without a change, repaired once, rolled back, repaired again', async () => {
    await deleteSupervisorSchedule(client, config);
    const broken = await doctor(['--only', 'supervisor_schedule']);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/FAIL\s+supervisor_schedule/);

    const before = await snapshot();
    const preview = await doctor(['--repair', '--dry-run', '--json']);
    expect(preview.json.plan.steps).toEqual([
      expect.objectContaining({
        repair: 'ensure_supervisor_schedule',
        touches: expect.stringContaining(config.temporal.supervisorTaskQueue),
      }),
    ]);
    expect(await snapshot()).toEqual(before);

    // A stale hash is refused; the printed one applies exactly that plan.
    expect((await doctor(['--repair', '--plan', '0000000000000000'])).code).toBe(1);
    const repaired = await doctor(['--repair', '--plan', preview.json.plan.hash, '--json']);
    expect(repaired.code).toBe(0);
    expect(repaired.json.recovery.steps).toEqual([expect.objectContaining({ change: 'created' })]);
    const manifest = JSON.parse(fs.readFileSync(repaired.json.recovery.manifestPath, 'utf8'));
    expect(manifest).toMatchObject({
      schemaVersion: 1,
      planHash: preview.json.plan.hash,
      steps: [{ change: 'created', before: { present: false }, after: { present: true, paused: false } }],
    });
    expect((await doctor(['--repair'])).stdout).toContain('Nothing to repair.');

    const runId = repaired.json.recovery.runId;
    const rollbackPreview = await doctor(['--rollback-run', runId, '--dry-run']);
    expect(rollbackPreview.stdout).toContain('dry run');
    expect((await snapshot()).schedule).toEqual({ paused: false });
    expect((await doctor(['--rollback-run', runId])).code).toBe(0);
    expect((await snapshot()).schedule).toBe('absent');
    expect((await doctor(['--only', 'supervisor_schedule'])).code).toBe(1);
    expect((await doctor(['--repair'])).code).toBe(0);
    expect((await snapshot()).schedule).toEqual({ paused: false });
  });

  it('a paused schedule is unpaused; rolling back refuses when the schedule changed since the repair', async () => {
    await client.schedule.getHandle(supervisorScheduleId(config)).pause('paused during an outage');
    expect(check((await doctor(['--json', '--only', 'supervisor_schedule'])).json, 'supervisor_schedule')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('paused during an outage'),
    });
    const repaired = await doctor(['--repair', '--json']);
    expect(repaired.json.recovery.steps).toEqual([
      expect.objectContaining({ change: 'modified', before: expect.objectContaining({ paused: true }) }),
    ]);
    // Someone deletes it after the repair: the rollback (pause it again) no longer matches what the repair left.
    await deleteSupervisorSchedule(client, config);
    const refused = await doctor(['--rollback-run', repaired.json.recovery.runId, '--json']);
    expect(refused.code).toBe(1);
    expect(refused.json.rollback.steps).toEqual([expect.objectContaining({ outcome: 'refused' })]);
    await ensureSupervisorSchedule(client, config);
  });

  it('a migration rolled back is applied again, and its repair can be undone', async () => {
    const undone = await migrateLedgerDown(ledgerConnection.db as never, 'sqlite');
    const broken = await doctor(['--json', '--only', 'migrations_current']);
    expect(check(broken.json, 'migrations_current')).toMatchObject({
      status: 'fail',
      detail: `not applied: ${undone}`,
      repair: 'run_migrations',
    });
    const repaired = await doctor(['--repair', '--json']);
    expect(repaired.json.recovery.steps).toEqual([
      expect.objectContaining({ step: expect.objectContaining({ repair: 'run_migrations' }), change: 'modified' }),
    ]);
    expect(await appliedLedgerMigrations(ledgerConnection.db as never, 'sqlite')).toContain(undone);
    const rolledBack = await doctor(['--rollback-run', repaired.json.recovery.runId, '--json']);
    expect(rolledBack.json.rollback.steps).toEqual([expect.objectContaining({ outcome: 'undone' })]);
    expect(await appliedLedgerMigrations(ledgerConnection.db as never, 'sqlite')).not.toContain(undone);
    expect((await doctor(['--repair'])).code).toBe(0);
    expect(await appliedLedgerMigrations(ledgerConnection.db as never, 'sqlite')).toContain(undone);
  });

  it('an expired hold still pending and an orphaned hold are found and closed; expiring says it cannot be undone', async () => {
    const reserve = (runId: string, expiresAt: Date) =>
      ledger.reserve({
        reservationId: `run-${runId}`,
        runId,
        scope: { tenantId: 'acme', principalId: 'svc', modelId: 'sim-standard' },
        inputTokens: 10,
        maxOutputTokens: 10,
        price: { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 },
        catalogVersion: 'test',
        expiresAt,
      });
    const expiredRun = randomUUID();
    const orphanRun = randomUUID();
    await reserve(expiredRun, new Date(Date.now() + 300));
    await reserve(orphanRun, new Date(Date.now() + 3_600_000));
    await delay(1_000);

    const broken = await doctor(['--json', '--only', 'expired_holds,orphaned_holds']);
    expect(broken.code).toBe(1);
    expect(check(broken.json, 'expired_holds').detail).toContain(`run-${expiredRun}`);
    expect(check(broken.json, 'orphaned_holds').detail).toContain(`run-${orphanRun}`);

    const before = await snapshot();
    await doctor(['--repair', '--dry-run', '--only', 'expired_holds,orphaned_holds']);
    expect(await snapshot()).toEqual(before);

    const repaired = await doctor(['--repair', '--json', '--only', 'expired_holds,orphaned_holds']);
    expect(repaired.code).toBe(0);
    expect(repaired.json.recovery.steps.map((step: { change: string }) => step.change)).toEqual(['modified', 'modified']);
    expect((await ledger.getReservation(`run-${expiredRun}`))?.state).toBe('expired');
    expect((await ledger.getReservation(`run-${orphanRun}`))?.state).toBe('released');
    const preview = await doctor(['--rollback-run', repaired.json.recovery.runId, '--dry-run', '--json']);
    expect(preview.json.rollback.steps.map((s: { outcome: string }) => s.outcome)).toEqual(['not_undoable', 'not_undoable']);
    expect((await doctor(['--repair', '--only', 'expired_holds,orphaned_holds'])).stdout).toContain('Nothing to repair.');
  });

  it('missing search attributes in a fresh namespace are registered', async () => {
    const namespace = `doctor-${randomUUID().slice(0, 8)}`;
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(86_400) },
    });
    const file = writeConfig({ temporal: { ...baseConfig().temporal, namespace } });
    let broken;
    for (let i = 0; i < 20; i++) {
      broken = await doctor(['--json', '--only', 'search_attributes_registered'], file);
      if (check(broken.json, 'search_attributes_registered').status === 'fail') break;
      await delay(500);
    }
    expect(check(broken!.json, 'search_attributes_registered')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('PalyraTenant'),
    });
    const repaired = await doctor(['--repair', '--json', '--only', 'search_attributes_registered'], file);
    expect(repaired.json.recovery.steps).toEqual([expect.objectContaining({ change: 'created' })]);
    expect(check(repaired.json, 'search_attributes_registered').status).toBe('ok');
  });

  it('Temporal at a closed port: the Temporal checks fail or are skipped, the ledger checks still run', async () => {
    const file = writeConfig({ temporal: { ...baseConfig().temporal, address: '127.0.0.1:9' } });
    const report = await doctor(['--json'], file);
    expect(report.code).toBe(1);
    expect(check(report.json, 'temporal_reachable')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('127.0.0.1:9'),
    });
    expect(check(report.json, 'supervisor_schedule').status).toBe('skipped');
    expect(check(report.json, 'migrations_current').status).toBe('ok');
  });

  it('bad usage exits 2 and names what is wrong', async () => {
    const combined = await doctor(['--repair', '--rollback-run', 'x']);
    expect(combined.code).toBe(2);
    expect(combined.stderr).toContain('--repair and --rollback-run cannot be combined');
    expect((await doctor(['--rollback-run', 'x', '--only', 'node_version'])).code).toBe(2);
    const unknown = await doctor(['--only', 'no_such_check']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown check id(s) no_such_check');
    expect((await doctor(['--rollback-run', 'no-such-run'])).code).toBe(2);
    // No manifest ever holds a secret.
    const runs = path.join(dataDir, 'doctor', 'runs');
    for (const run of fs.readdirSync(runs)) {
      const manifest = fs.readFileSync(path.join(runs, run, 'manifest.json'), 'utf8');
      for (const secret of Object.values(secrets)) expect(manifest).not.toContain(secret);
    }
  });
});
