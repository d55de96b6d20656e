import { ScheduleNotFoundError } from '@temporalio/client';
import Long from 'long';
import { createHoldSettler } from '../activities/hold-settlement';
import {
  appliedLedgerMigrations,
  isReversibleMigration,
  ledgerMigrationNames,
  migrateLedger,
  migrateLedgerDown,
} from '../ledger/migrations';
import { missingSearchAttributes, registerSearchAttributes } from '../temporal/search-attributes';
import { deleteSupervisorSchedule, ensureSupervisorSchedule, supervisorScheduleId } from '../temporal/supervisor-schedule';
import type { DoctorEnvironment } from './environment';
import { expiredPendingHolds, orphanedHolds, supervisorScheduleState } from './probes';
import type { AppliedStep, CheckResult, RepairId, RepairStep, RolledBackStep } from './types';

/** What the doctor's repairs act through: both reached, or the repair cannot be planned. */
async function reach(env: DoctorEnvironment) {
  const [temporal, ledger] = await Promise.all([env.temporal(), env.ledger()]);
  return { temporal: temporal.ok ? temporal.value : undefined, ledger: ledger.ok ? ledger.value : undefined };
}

interface RepairDefinition {
  id: RepairId;
  /** The step this repair would take now, or undefined when there is nothing to do. Reads only. */
  plan(env: DoctorEnvironment): Promise<RepairStep | undefined>;
  apply(env: DoctorEnvironment, step: RepairStep): Promise<Omit<AppliedStep, 'step'>>;
  /** Undoes an applied step, refusing (unless forced) when its target changed since the repair. */
  rollback(env: DoctorEnvironment, applied: AppliedStep, force: boolean): Promise<Omit<RolledBackStep, 'repair'>>;
}

const notUndoable = (detail: string): Omit<RolledBackStep, 'repair'> => ({ outcome: 'not_undoable', detail });

const repairs: Record<RepairId, RepairDefinition> = {
  create_namespace: {
    id: 'create_namespace',
    async plan(env) {
      if (!env.embedded) return undefined;
      const temporal = (await reach(env)).temporal;
      if (!temporal) return undefined;
      const namespace = env.config.temporal.namespace;
      const exists = await temporal.connection.workflowService.describeNamespace({ namespace }).then(
        () => true,
        () => false,
      );
      if (exists) return undefined;
      return {
        repair: 'create_namespace',
        title: `Create namespace ${namespace} on the embedded dev server`,
        touches: `Temporal namespace ${namespace}`,
        blastRadius: 'a new, empty namespace (retention 3 days)',
        risky: false,
        target: { namespace },
      };
    },
    async apply(env, step) {
      const { temporal } = await reach(env);
      if (!temporal) throw new Error('Temporal is not reachable');
      const namespace = String(step.target.namespace);
      await temporal.connection.workflowService.registerNamespace({
        namespace,
        workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(3 * 24 * 3600) },
      });
      return {
        change: 'created',
        detail: `created namespace ${namespace}`,
        before: { exists: false },
        after: { exists: true },
        notUndoable: 'Temporal deletes a namespace with its histories; delete it by hand if you mean to',
      };
    },
    async rollback(_env, applied) {
      return notUndoable(applied.notUndoable ?? 'a namespace is not deleted by the doctor');
    },
  },

  register_search_attributes: {
    id: 'register_search_attributes',
    async plan(env) {
      const { temporal } = await reach(env);
      if (!temporal) return undefined;
      const missing = await missingSearchAttributes(temporal.connection, env.config.temporal.namespace);
      if (missing.length === 0) return undefined;
      return {
        repair: 'register_search_attributes',
        title: `Register ${missing.length} search attribute(s)`,
        touches: `namespace ${env.config.temporal.namespace}: ${missing.join(', ')}`,
        blastRadius: 'adds keys to the namespace; no workflow changes',
        risky: false,
        target: { namespace: env.config.temporal.namespace, attributes: missing },
      };
    },
    async apply(env, step) {
      const { temporal } = await reach(env);
      if (!temporal) throw new Error('Temporal is not reachable');
      const result = await registerSearchAttributes(temporal.connection, env.config.temporal.namespace);
      return {
        change: result.added.length > 0 ? 'created' : 'no_change',
        detail: result.added.length > 0 ? `registered ${result.added.join(', ')}` : 'already registered',
        before: { missing: step.target.attributes },
        after: { added: result.added },
      };
    },
    async rollback(env, applied, force) {
      const { temporal } = await reach(env);
      if (!temporal) return { outcome: 'failed', detail: 'Temporal is not reachable' };
      const added = (applied.after as { added: string[] }).added;
      if (added.length === 0) return { outcome: 'no_change', detail: 'the repair registered nothing' };
      const missing = await missingSearchAttributes(temporal.connection, env.config.temporal.namespace);
      const gone = added.filter((name) => missing.includes(name));
      if (gone.length > 0 && !force)
        return { outcome: 'refused', detail: `changed since the repair: ${gone.join(', ')} already removed (use --force)` };
      await temporal.connection.operatorService.removeSearchAttributes({
        namespace: env.config.temporal.namespace,
        searchAttributes: added.filter((name) => !gone.includes(name)),
      });
      return { outcome: 'undone', detail: `removed ${added.join(', ')}` };
    },
  },

  ensure_supervisor_schedule: {
    id: 'ensure_supervisor_schedule',
    async plan(env) {
      const { temporal } = await reach(env);
      if (!temporal) return undefined;
      const state = await supervisorScheduleState(temporal.client, env.config);
      if (state.present && !state.paused) return undefined;
      const id = supervisorScheduleId(env.config);
      return {
        repair: 'ensure_supervisor_schedule',
        title: state.present ? `Unpause the supervisor schedule ${id}` : `Create the supervisor schedule ${id}`,
        touches: `Temporal schedule ${id}`,
        blastRadius: `one supervisor tick every ${env.config.selfHealing.supervisorIntervalMs / 1000} s; incidents open again (self-healing ${env.config.selfHealing.mode})`,
        risky: false,
        target: { scheduleId: id, action: state.present ? 'unpause' : 'create' },
      };
    },
    async apply(env, step) {
      const { temporal } = await reach(env);
      if (!temporal) throw new Error('Temporal is not reachable');
      const before = await supervisorScheduleState(temporal.client, env.config);
      if (before.present && before.paused) {
        await temporal.client.schedule.getHandle(String(step.target.scheduleId)).unpause('unpaused by palyra doctor --repair');
      } else if (!before.present) {
        await ensureSupervisorSchedule(temporal.client, env.config);
      }
      const after = await supervisorScheduleState(temporal.client, env.config);
      const change = !before.present ? 'created' : before.paused ? 'modified' : 'no_change';
      return {
        change,
        detail:
          change === 'created' ? 'created the schedule' : change === 'modified' ? 'unpaused the schedule' : 'already running',
        before,
        after,
      };
    },
    async rollback(env, applied, force) {
      const { temporal } = await reach(env);
      if (!temporal) return { outcome: 'failed', detail: 'Temporal is not reachable' };
      const now = await supervisorScheduleState(temporal.client, env.config);
      const after = applied.after as typeof now;
      if (JSON.stringify(now) !== JSON.stringify(after) && !force) {
        return { outcome: 'refused', detail: `the schedule changed since the repair (now ${JSON.stringify(now)}; use --force)` };
      }
      const id = supervisorScheduleId(env.config);
      if (applied.change === 'created') {
        await deleteSupervisorSchedule(temporal.client, env.config);
        return { outcome: 'undone', detail: `deleted the schedule ${id}` };
      }
      if (applied.change === 'modified') {
        const note = (applied.before as { note?: string }).note || 'paused again by palyra doctor --rollback-run';
        await temporal.client.schedule
          .getHandle(id)
          .pause(note)
          .catch((error: unknown) => {
            if (error instanceof ScheduleNotFoundError) throw new Error(`schedule ${id} no longer exists`);
            throw error;
          });
        return { outcome: 'undone', detail: `paused the schedule ${id} again` };
      }
      return { outcome: 'no_change', detail: 'the repair changed nothing' };
    },
  },

  run_migrations: {
    id: 'run_migrations',
    async plan(env) {
      const { ledger } = await reach(env);
      if (!ledger) return undefined;
      const applied = await appliedLedgerMigrations(ledger.connection.db as never, ledger.connection.dialect);
      const pending = ledgerMigrationNames.filter((name) => !applied.includes(name));
      if (pending.length === 0) return undefined;
      return {
        repair: 'run_migrations',
        title: `Apply ${pending.length} ledger migration(s)`,
        touches: `${ledger.connection.description}: ${pending.join(', ')}`,
        blastRadius: 'the ledger schema; existing rows are kept',
        risky: false,
        target: { migrations: pending },
      };
    },
    async apply(env) {
      const { ledger } = await reach(env);
      if (!ledger) throw new Error('the ledger is not reachable');
      const db = ledger.connection.db as never;
      const before = await appliedLedgerMigrations(db, ledger.connection.dialect);
      await migrateLedger(db, ledger.connection.dialect);
      const after = await appliedLedgerMigrations(db, ledger.connection.dialect);
      const added = after.filter((name) => !before.includes(name));
      const irreversible = added.filter((name) => !isReversibleMigration(name));
      return {
        change: added.length > 0 ? 'modified' : 'no_change',
        detail: added.length > 0 ? `applied ${added.join(', ')}` : 'nothing pending',
        before: { applied: before },
        after: { applied: after },
        ...(irreversible.length > 0 ? { notUndoable: `migration(s) ${irreversible.join(', ')} have no down step` } : {}),
      };
    },
    async rollback(env, applied, force) {
      const { ledger } = await reach(env);
      if (!ledger) return { outcome: 'failed', detail: 'the ledger is not reachable' };
      const db = ledger.connection.db as never;
      const before = (applied.before as { applied: string[] }).applied;
      const after = (applied.after as { applied: string[] }).applied;
      const added = after.filter((name) => !before.includes(name));
      if (added.length === 0) return { outcome: 'no_change', detail: 'the repair applied nothing' };
      const now = await appliedLedgerMigrations(db, ledger.connection.dialect);
      if (JSON.stringify(now) !== JSON.stringify(after) && !force) {
        return {
          outcome: 'refused',
          detail: `the ledger's migrations changed since the repair (now ${now.at(-1) ?? 'none'} last; use --force)`,
        };
      }
      const irreversible = added.filter((name) => !isReversibleMigration(name));
      if (irreversible.length > 0) return notUndoable(`migration(s) ${irreversible.join(', ')} have no down step`);
      const undone: string[] = [];
      for (let i = 0; i < added.length; i++) undone.push(await migrateLedgerDown(db, ledger.connection.dialect));
      return { outcome: 'undone', detail: `undid ${undone.join(', ')}` };
    },
  },

  expire_holds: {
    id: 'expire_holds',
    async plan(env) {
      const { ledger } = await reach(env);
      if (!ledger) return undefined;
      const expired = await expiredPendingHolds(ledger.repo);
      if (expired.length === 0) return undefined;
      return {
        repair: 'expire_holds',
        title: `Expire ${expired.length} hold(s) past their expiry`,
        touches: expired.map((hold) => hold.reservationId).join(', '),
        blastRadius: 'budget held by these reservations goes back to their windows (as the sweeper does)',
        risky: false,
        target: { reservationIds: expired.map((hold) => hold.reservationId) },
      };
    },
    async apply(env, step) {
      const { ledger } = await reach(env);
      if (!ledger) throw new Error('the ledger is not reachable');
      const expired = await ledger.repo.expireDue(new Date());
      return {
        change: expired.length > 0 ? 'modified' : 'no_change',
        detail: `expired ${expired.length} hold(s)`,
        before: { pending: step.target.reservationIds },
        after: { expired },
        notUndoable: 'an expired hold is closed in the ledger for good (its budget is already back in the windows)',
      };
    },
    async rollback(_env, applied) {
      return notUndoable(applied.notUndoable ?? 'expiring a hold cannot be undone');
    },
  },

  release_orphaned_holds: {
    id: 'release_orphaned_holds',
    async plan(env) {
      const { temporal, ledger } = await reach(env);
      if (!temporal || !ledger) return undefined;
      const orphans = await orphanedHolds(
        temporal.client,
        ledger.repo,
        env.config.selfHealing.detectors.orphaned_reservation.graceMs,
      );
      if (orphans.length === 0) return undefined;
      return {
        repair: 'release_orphaned_holds',
        title: `Settle ${orphans.length} hold(s) whose workflow is gone`,
        touches: orphans.map((hold) => `${hold.reservationId} (${hold.ownerWorkflowId})`).join(', '),
        blastRadius: 'each is charged what its workflow history shows was consumed; the rest goes back to its windows',
        risky: false,
        target: { holds: orphans.map((hold) => ({ reservationId: hold.reservationId, ownerWorkflowId: hold.ownerWorkflowId })) },
      };
    },
    async apply(env, step) {
      const { temporal, ledger } = await reach(env);
      if (!temporal || !ledger) throw new Error('Temporal or the ledger is not reachable');
      const settler = createHoldSettler({ client: temporal.client, ledger: ledger.repo, config: env.config });
      const holds = step.target.holds as { reservationId: string; ownerWorkflowId: string }[];
      const outcomes = [];
      for (const hold of holds)
        outcomes.push({ ...hold, ...(await settler.settleFromHistory(hold.reservationId, hold.ownerWorkflowId)) });
      const failed = outcomes.filter((outcome) => outcome.status === 'failed');
      return {
        change: failed.length === outcomes.length ? 'failed' : 'modified',
        detail: outcomes.map((outcome) => outcome.detail).join('; '),
        before: { pending: holds.map((hold) => hold.reservationId) },
        after: { outcomes },
        notUndoable: 'a settled or released hold is closed in the ledger for good',
      };
    },
    async rollback(_env, applied) {
      return notUndoable(applied.notUndoable ?? 'settling a hold cannot be undone');
    },
  },
};

/**
 * The repair plan: for each failing check with a repair (in check order, each repair once), the step
 * it would take now. Reads only. Risky steps stay in the plan; applying them needs `--force`.
 */
export async function planRepairs(env: DoctorEnvironment, results: CheckResult[]): Promise<RepairStep[]> {
  const wanted = [
    ...new Set(results.filter((result) => result.status !== 'ok' && result.repair).map((result) => result.repair as RepairId)),
  ];
  const steps: RepairStep[] = [];
  for (const id of wanted) {
    const step = await repairs[id].plan(env);
    if (step) steps.push(step);
  }
  return steps;
}

export function applyStep(env: DoctorEnvironment, step: RepairStep): Promise<Omit<AppliedStep, 'step'>> {
  return repairs[step.repair].apply(env, step);
}

export function rollbackStep(
  env: DoctorEnvironment,
  applied: AppliedStep,
  force: boolean,
): Promise<Omit<RolledBackStep, 'repair'>> {
  return repairs[applied.step.repair].rollback(env, applied, force);
}
