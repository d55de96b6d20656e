import { randomUUID } from 'node:crypto';
import { sql, type Selectable } from 'kysely';
import {
  remediationGate,
  throttleWindowMs,
  type PendingReservationEvidence,
  type RemediationAttempt,
  type RemediationGateDecision,
  type RemediationId,
  type RemediationRecord,
  type TenantSpendEvidence,
} from '../../domain/self-healing';
import type { LedgerDatabase } from '../schema';
import type { Db, LedgerContext } from './context';
import { LedgerNotFoundError } from './errors';
import { isUniqueViolation } from './transaction';

/** A claimed slot is `pending` until its outcome is recorded. */
export type RemediationLogStatus = 'pending' | RemediationAttempt['status'];

export interface RemediationBreakerSettings {
  consecutiveFailures: number;
  openMs: number;
}

export interface RemediationSlotRequest {
  incidentId: string;
  remediationId: RemediationId;
  /** `supervisor` for an automatic attempt, else the approver. */
  by: string;
  maxPerMinute: number;
  breaker: RemediationBreakerSettings;
  /** The slot's id, when the caller makes it (an incident attempt does, so a retry finds its slot). */
  slotId?: string;
}

export type RemediationSlotClaim = { allowed: true; slotId: string } | { allowed: false; reason: string };

export interface SkippedRemediation {
  incidentId: string;
  remediationId: RemediationId;
  by: string;
  /** Why nothing was done (the gate's reason, evidence that cleared before acting, …). */
  detail: string;
  /** Makes a repeated call (a retried activity) record the skip once. */
  slotId?: string;
}

export interface RemediationLogEntry {
  slotId: string;
  incidentId: string;
  remediationId: RemediationId;
  status: RemediationLogStatus;
  detail: string;
  by: string;
  /** When the slot was claimed, or the attempt skipped. */
  at: string;
  finishedAt: string | null;
}

export interface RemediationCount {
  remediationId: RemediationId;
  status: RemediationAttempt['status'];
  count: number;
}

export interface TenantPause {
  tenantId: string;
  reason: string;
  pausedBy: string;
  pausedAt: string;
  incidentId?: string;
}

export interface ProviderCircuitOverride {
  providerId: string;
  openUntil: string;
  reason: string;
  openedBy: string;
  openedAt: string;
  incidentId?: string;
}

export interface SupervisorTickRecord {
  startedAt: Date;
  durationMs: number;
  findings: number;
  /** The tick's result, stored as JSON. */
  result: unknown;
  error?: string;
}

export interface SupervisorTick {
  startedAt: string;
  durationMs: number;
  findings: number;
  result: unknown;
  error?: string;
  /** Ticks recorded since the installation began. */
  ticks: number;
  recordedAt: string;
}

/** A pending hold as the supervisor sees it; whether its owner workflow is open is for Temporal to say. */
export type PendingReservationSummary = Omit<PendingReservationEvidence, 'ownerWorkflowId' | 'ownerOpen'>;

/** Log rows older than this are deleted; `remediation_counts` keeps the totals. */
export const remediationLogRetentionMs = 30 * 24 * 60 * 60_000;
export const maxRecentRemediations = 64;
const maxPendingReservations = 1_000;
const hourMs = 60 * 60_000;

type RemediationRow = Selectable<LedgerDatabase['remediation_log']>;

/**
 * Self-healing state shared by every process of the installation: the remediation throttle and
 * circuit breaker (decided under one lock, so two supervisors or incidents racing for the last slot
 * never both get it), tenant pauses, provider circuits opened by incidents, the supervisor's last
 * tick, and the reads the supervisor's detectors need.
 */
export function createSelfHealing({ db, dialect, clock, writeTransaction }: LedgerContext) {
  /** Text ordered as UTF-8 bytes on both dialects, so lists come back in the same order. */
  const byteOrder = (column: string) => (dialect === 'postgres' ? sql`${sql.ref(column)} collate "C"` : sql.ref(column));

  /**
   * Takes a remediation slot if the throttle and the breaker allow one now, and writes it as
   * `pending` in the same transaction, so it counts against the throttle at once.
   */
  async function claimRemediationSlot(request: RemediationSlotRequest): Promise<RemediationSlotClaim> {
    return writeTransaction(async (trx) => {
      await lockRemediationGate(trx);
      const now = clock();
      const decision = decideRemediationSlot({
        now: now.getTime(),
        ...(await gateHistory(trx, now, request.breaker)),
        maxPerMinute: request.maxPerMinute,
        breaker: request.breaker,
      });
      if (!decision.allowed) return decision;
      const slotId = request.slotId ?? randomUUID();
      await trx
        .insertInto('remediation_log')
        .values({
          slot_id: slotId,
          incident_id: request.incidentId,
          remediation_id: request.remediationId,
          status: 'pending',
          detail: '',
          by_whom: request.by,
          at: now.toISOString(),
          finished_at: null,
        })
        .execute();
      await pruneLog(trx, now);
      return { allowed: true, slotId };
    });
  }

  /** A slot by id: how far an earlier attempt got (pending: it claimed and may have acted). */
  async function remediationSlot(slotId: string): Promise<RemediationLogEntry | undefined> {
    const row = await db.selectFrom('remediation_log').selectAll().where('slot_id', '=', slotId).executeTakeFirst();
    return row ? toLogEntry(row) : undefined;
  }

  /** Records a claimed slot's outcome once; a repeat returns the first outcome unchanged. */
  async function finishRemediation(
    slotId: string,
    outcome: { status: 'succeeded' | 'failed'; detail: string },
  ): Promise<RemediationLogEntry> {
    return writeTransaction(async (trx) => {
      const finished = await trx
        .updateTable('remediation_log')
        .set({ status: outcome.status, detail: outcome.detail, finished_at: clock().toISOString() })
        .where('slot_id', '=', slotId)
        .where('status', '=', 'pending')
        .returningAll()
        .executeTakeFirst();
      if (finished) {
        await countOutcome(trx, finished.remediation_id, outcome.status);
        return toLogEntry(finished);
      }
      const stored = await trx.selectFrom('remediation_log').selectAll().where('slot_id', '=', slotId).executeTakeFirst();
      if (!stored) throw new LedgerNotFoundError(`remediation slot ${slotId} does not exist`);
      return toLogEntry(stored);
    });
  }

  /** An attempt that did nothing: recorded for the record, counted for neither the throttle nor the breaker. */
  async function recordSkippedRemediation(skip: SkippedRemediation): Promise<RemediationLogEntry> {
    return writeTransaction(async (trx) => {
      const now = clock();
      const row: RemediationRow = {
        slot_id: skip.slotId ?? randomUUID(),
        incident_id: skip.incidentId,
        remediation_id: skip.remediationId,
        status: 'skipped',
        detail: skip.detail,
        by_whom: skip.by,
        at: now.toISOString(),
        finished_at: null,
      };
      const inserted = await trx
        .insertInto('remediation_log')
        .values(row)
        .onConflict((oc) => oc.column('slot_id').doNothing())
        .returningAll()
        .executeTakeFirst();
      if (!inserted) {
        return toLogEntry(
          await trx.selectFrom('remediation_log').selectAll().where('slot_id', '=', row.slot_id).executeTakeFirstOrThrow(),
        );
      }
      await countOutcome(trx, row.remediation_id, 'skipped');
      await pruneLog(trx, now);
      return toLogEntry(inserted);
    });
  }

  /** The newest attempts of the installation, newest first (at most 64). */
  async function recentRemediations({ limit }: { limit: number }): Promise<RemediationLogEntry[]> {
    const rows = await db
      .selectFrom('remediation_log')
      .selectAll()
      .orderBy('at', 'desc')
      .orderBy(byteOrder('slot_id'))
      .limit(Math.max(1, Math.min(maxRecentRemediations, Math.floor(limit))))
      .execute();
    return rows.map(toLogEntry);
  }

  /** Outcomes by remediation and status since the installation began (monotonic: Prometheus counters). */
  async function remediationCounts(): Promise<RemediationCount[]> {
    const rows = await db
      .selectFrom('remediation_counts')
      .selectAll()
      .orderBy(byteOrder('remediation_id'))
      .orderBy(byteOrder('status'))
      .execute();
    return rows.map((r) => ({
      remediationId: r.remediation_id as RemediationId,
      status: r.status as RemediationAttempt['status'],
      count: r.total,
    }));
  }

  /** Pauses a tenant's new runs; pausing a paused tenant keeps the first pause (`created` false). */
  async function pauseTenant(request: {
    tenantId: string;
    reason: string;
    by: string;
    incidentId?: string;
  }): Promise<{ pause: TenantPause; created: boolean }> {
    try {
      return await writeTransaction(async (trx) => {
        const existing = await trx
          .selectFrom('tenant_pauses')
          .selectAll()
          .where('tenant_id', '=', request.tenantId)
          .executeTakeFirst();
        if (existing) return { pause: toTenantPause(existing), created: false };
        const row = {
          tenant_id: request.tenantId,
          reason: request.reason,
          paused_by: request.by,
          paused_at: clock().toISOString(),
          incident_id: request.incidentId ?? null,
        };
        await trx.insertInto('tenant_pauses').values(row).execute();
        return { pause: toTenantPause(row), created: true };
      });
    } catch (error) {
      // Two pauses of the same tenant at once (PostgreSQL): the loser reports the winner's.
      if (!isUniqueViolation(error)) throw error;
      const stored = await tenantPause(request.tenantId);
      if (!stored) throw error;
      return { pause: stored, created: false };
    }
  }

  /** Lifts a pause; returns the pause lifted, or undefined when the tenant was not paused. */
  async function resumeTenant(tenantId: string): Promise<TenantPause | undefined> {
    const row = await db.deleteFrom('tenant_pauses').where('tenant_id', '=', tenantId).returningAll().executeTakeFirst();
    return row ? toTenantPause(row) : undefined;
  }

  async function tenantPause(tenantId: string): Promise<TenantPause | undefined> {
    const row = await db.selectFrom('tenant_pauses').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst();
    return row ? toTenantPause(row) : undefined;
  }

  async function pausedTenants(): Promise<TenantPause[]> {
    const rows = await db.selectFrom('tenant_pauses').selectAll().orderBy(byteOrder('tenant_id')).execute();
    return rows.map(toTenantPause);
  }

  /**
   * Opens a provider's circuit until `openUntil`. A circuit still open is extended (never shortened)
   * and keeps who opened it and why (`opened` false); an expired one is opened afresh.
   */
  async function openProviderCircuit(request: {
    providerId: string;
    openUntil: Date;
    reason: string;
    by: string;
    incidentId?: string;
  }): Promise<{ circuit: ProviderCircuitOverride; opened: boolean }> {
    const open = () =>
      writeTransaction(async (trx) => {
        const now = clock().toISOString();
        const openUntil = request.openUntil.toISOString();
        let existing = trx.selectFrom('provider_circuit_overrides').selectAll().where('provider_id', '=', request.providerId);
        if (dialect === 'postgres') existing = existing.forUpdate();
        const current = await existing.executeTakeFirst();
        if (current && current.open_until > now) {
          const extended = { ...current, open_until: current.open_until < openUntil ? openUntil : current.open_until };
          await trx
            .updateTable('provider_circuit_overrides')
            .set({ open_until: extended.open_until })
            .where('provider_id', '=', request.providerId)
            .execute();
          return { circuit: toCircuit(extended), opened: false };
        }
        const row = {
          provider_id: request.providerId,
          open_until: openUntil,
          reason: request.reason,
          opened_by: request.by,
          incident_id: request.incidentId ?? null,
          opened_at: now,
        };
        if (current) {
          await trx.updateTable('provider_circuit_overrides').set(row).where('provider_id', '=', request.providerId).execute();
        } else {
          await trx.insertInto('provider_circuit_overrides').values(row).execute();
        }
        return { circuit: toCircuit(row), opened: true };
      });
    try {
      return await open();
    } catch (error) {
      // Two first openings at once (PostgreSQL): run again, which finds the winner's row and extends it.
      if (!isUniqueViolation(error)) throw error;
      return open();
    }
  }

  /** Closes a provider's override; returns whether it was still open. */
  async function closeProviderCircuit(providerId: string): Promise<boolean> {
    const row = await db
      .deleteFrom('provider_circuit_overrides')
      .where('provider_id', '=', providerId)
      .returning('open_until')
      .executeTakeFirst();
    return row !== undefined && row.open_until > clock().toISOString();
  }

  /** The overrides still open at `now`. */
  async function openProviderCircuits(now: Date = clock()): Promise<ProviderCircuitOverride[]> {
    const rows = await db
      .selectFrom('provider_circuit_overrides')
      .selectAll()
      .where('open_until', '>', now.toISOString())
      .orderBy(byteOrder('provider_id'))
      .execute();
    return rows.map(toCircuit);
  }

  async function recordSupervisorTick(tick: SupervisorTickRecord): Promise<void> {
    const values = {
      started_at: tick.startedAt.toISOString(),
      duration_ms: Math.round(tick.durationMs),
      findings: tick.findings,
      result_json: JSON.stringify(tick.result ?? null),
      error: tick.error ?? null,
      recorded_at: clock().toISOString(),
    };
    await db
      .insertInto('supervisor_ticks')
      .values({ tick_key: 'last', tick_count: 1, ...values })
      .onConflict((oc) =>
        oc.column('tick_key').doUpdateSet((eb) => ({ ...values, tick_count: eb('supervisor_ticks.tick_count', '+', 1) })),
      )
      .execute();
  }

  async function lastSupervisorTick(): Promise<SupervisorTick | undefined> {
    const row = await db.selectFrom('supervisor_ticks').selectAll().where('tick_key', '=', 'last').executeTakeFirst();
    if (!row) return undefined;
    return {
      startedAt: row.started_at,
      durationMs: row.duration_ms,
      findings: row.findings,
      result: JSON.parse(row.result_json) as unknown,
      ...(row.error !== null ? { error: row.error } : {}),
      ticks: row.tick_count,
      recordedAt: row.recorded_at,
    };
  }

  /**
   * Per tenant, what settled in the last hour and in the 24 hours before it: settled reservations'
   * `settled_micro_usd` by `resolved_at` (every charge of a run or task attempt, whatever policies
   * apply). Tenants with no settled spend in those 25 hours are absent.
   */
  async function tenantSpendRates(now: Date = clock()): Promise<TenantSpendEvidence[]> {
    const hourAgo = new Date(now.getTime() - hourMs).toISOString();
    const rows = await db
      .selectFrom('reservations')
      .select((eb) => [
        'tenant_id',
        eb.fn
          .sum<number | string>(
            eb
              .case()
              .when('resolved_at', '>', hourAgo)
              .then(eb.fn.coalesce('settled_micro_usd', eb.lit(0)))
              .else(0)
              .end(),
          )
          .as('last_hour'),
        eb.fn
          .sum<number | string>(
            eb
              .case()
              .when('resolved_at', '<=', hourAgo)
              .then(eb.fn.coalesce('settled_micro_usd', eb.lit(0)))
              .else(0)
              .end(),
          )
          .as('trailing_day'),
      ])
      .where('state', '=', 'settled')
      .where('resolved_at', '>', new Date(now.getTime() - 25 * hourMs).toISOString())
      .where('resolved_at', '<=', now.toISOString())
      .groupBy('tenant_id')
      .orderBy(byteOrder('tenant_id'))
      .execute();
    // PostgreSQL sums bigints as numeric, which arrives as a string.
    return rows.map((r) => ({
      tenantId: r.tenant_id,
      lastHourMicroUsd: Number(r.last_hour),
      trailingDayMicroUsd: Number(r.trailing_day),
    }));
  }

  /** Pending holds, oldest first: the booking (run or task attempt) each holds for, its amount and lifetime. */
  async function pendingReservationsForSupervisor({ limit }: { limit: number }): Promise<PendingReservationSummary[]> {
    const rows = await db
      .selectFrom('reservations')
      .select(['reservation_id', 'tenant_id', 'run_id', 'amount_micro_usd', 'created_at', 'expires_at'])
      .where('state', '=', 'pending')
      .orderBy('created_at')
      .orderBy(byteOrder('reservation_id'))
      .limit(Math.max(1, Math.min(maxPendingReservations, Math.floor(limit))))
      .execute();
    return rows.map((r) => ({
      reservationId: r.reservation_id,
      tenantId: r.tenant_id,
      bookingId: r.run_id,
      heldMicroUsd: r.amount_micro_usd,
      createdAt: Date.parse(r.created_at),
      expiresAt: Date.parse(r.expires_at),
    }));
  }

  /**
   * Serializes claims. SQLite: the write transaction's BEGIN IMMEDIATE already did. PostgreSQL: the
   * gate row in `ledger_meta`, locked until commit; claims touch no window rows, so no lock cycle.
   */
  async function lockRemediationGate(trx: Db): Promise<void> {
    if (dialect !== 'postgres') return;
    await trx
      .selectFrom('ledger_meta')
      .select('value')
      .where('key', '=', 'remediation_gate')
      .forUpdate()
      .executeTakeFirstOrThrow();
  }

  /**
   * What the gate needs, bounded by the throttle: the last outcomes the breaker reads (by when they
   * were known), and the claims of the last few minutes, pending or finished.
   */
  async function gateHistory(trx: Db, now: Date, breaker: RemediationBreakerSettings) {
    const outcomes = await trx
      .selectFrom('remediation_log')
      .select(['status', 'finished_at'])
      .where('status', 'in', ['succeeded', 'failed'])
      .where('finished_at', 'is not', null)
      .orderBy('finished_at', 'desc')
      .limit(Math.max(1, breaker.consecutiveFailures))
      .execute();
    const claimedSince = new Date(now.getTime() - Math.max(throttleWindowMs, breaker.openMs)).toISOString();
    const claims = await trx
      .selectFrom('remediation_log')
      .select(['status', 'at'])
      .where('status', 'in', ['pending', 'succeeded', 'failed'])
      .where('at', '>', claimedSince)
      .execute();
    return {
      outcomes: outcomes.map((r) => ({
        at: Date.parse(r.finished_at as string),
        status: r.status as RemediationRecord['status'],
      })),
      claims: claims.map((r) => ({ at: Date.parse(r.at), pending: r.status === 'pending' })),
    };
  }

  async function countOutcome(trx: Db, remediationId: string, status: RemediationAttempt['status']): Promise<void> {
    await trx
      .insertInto('remediation_counts')
      .values({ remediation_id: remediationId, status, total: 1 })
      .onConflict((oc) =>
        oc.columns(['remediation_id', 'status']).doUpdateSet((eb) => ({ total: eb('remediation_counts.total', '+', 1) })),
      )
      .execute();
  }

  async function pruneLog(trx: Db, now: Date): Promise<void> {
    await trx
      .deleteFrom('remediation_log')
      .where('at', '<', new Date(now.getTime() - remediationLogRetentionMs).toISOString())
      .execute();
  }

  return {
    claimRemediationSlot,
    finishRemediation,
    recordSkippedRemediation,
    recentRemediations,
    remediationCounts,
    pauseTenant,
    resumeTenant,
    tenantPause,
    pausedTenants,
    openProviderCircuit,
    closeProviderCircuit,
    openProviderCircuits,
    remediationSlot,
    recordSupervisorTick,
    lastSupervisorTick,
    tenantSpendRates,
    pendingReservationsForSupervisor,
  };
}

/**
 * `remediationGate` over the stored log. The breaker reads outcomes in the order they became known
 * (a pending action has neither failed nor succeeded yet); the throttle counts actions by when they
 * were claimed, whatever their outcome, so a slot counts from the moment it is taken. After the
 * breaker's cool-down one trial action goes at a time: while it is pending (and younger than
 * `openMs`, so a lost one cannot keep the gate shut) no other is let through.
 */
export function decideRemediationSlot({
  now,
  outcomes,
  claims,
  maxPerMinute,
  breaker,
}: {
  now: number;
  /** Finished remediations (succeeded, failed), `at` when the outcome was recorded. */
  outcomes: readonly RemediationRecord[];
  /** Claimed slots, `at` when claimed; skipped attempts are not claims. */
  claims: readonly { at: number; pending: boolean }[];
  maxPerMinute: number;
  breaker: RemediationBreakerSettings;
}): RemediationGateDecision {
  const breakerDecision = remediationGate({ now, recent: outcomes, maxPerMinute: Number.POSITIVE_INFINITY, breaker });
  if (!breakerDecision.allowed) return breakerDecision;

  const streak = [...outcomes].sort((a, b) => b.at - a.at).slice(0, breaker.consecutiveFailures);
  const lastFailure = streak[0];
  const tripped =
    lastFailure !== undefined && streak.length === breaker.consecutiveFailures && streak.every((r) => r.status === 'failed');
  const trial = tripped
    ? claims.find((claim) => claim.pending && claim.at >= lastFailure.at && now - claim.at < breaker.openMs)
    : undefined;
  if (trial) {
    return {
      allowed: false,
      reason: `circuit half-open: a trial remediation has been in progress since ${new Date(trial.at).toISOString()}`,
    };
  }

  // Every claim as an action taken: the throttle counts them, and no failure streak can form here.
  return remediationGate({
    now,
    recent: claims.map((claim): RemediationRecord => ({ at: claim.at, status: 'succeeded' })),
    maxPerMinute,
    breaker,
  });
}

function toLogEntry(row: RemediationRow): RemediationLogEntry {
  return {
    slotId: row.slot_id,
    incidentId: row.incident_id,
    remediationId: row.remediation_id as RemediationId,
    status: row.status as RemediationLogStatus,
    detail: row.detail,
    by: row.by_whom,
    at: row.at,
    finishedAt: row.finished_at,
  };
}

function toTenantPause(row: Selectable<LedgerDatabase['tenant_pauses']>): TenantPause {
  return {
    tenantId: row.tenant_id,
    reason: row.reason,
    pausedBy: row.paused_by,
    pausedAt: row.paused_at,
    ...(row.incident_id !== null ? { incidentId: row.incident_id } : {}),
  };
}

function toCircuit(row: Selectable<LedgerDatabase['provider_circuit_overrides']>): ProviderCircuitOverride {
  return {
    providerId: row.provider_id,
    openUntil: row.open_until,
    reason: row.reason,
    openedBy: row.opened_by,
    openedAt: row.opened_at,
    ...(row.incident_id !== null ? { incidentId: row.incident_id } : {}),
  };
}
