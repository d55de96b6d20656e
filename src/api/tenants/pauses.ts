import { PalyraError } from '../../domain/errors';
import type { LedgerRepository, TenantPause } from '../../ledger';

/**
 * How long this process trusts what it last read of the paused tenants. A pause (from an incident
 * or another process) takes effect on new runs within this time; a resume through this process's
 * API at once.
 */
export const tenantPauseCacheTtlMs = 2_000;

/** What a client of a paused tenant is told to wait before trying again (a pause lasts until an SRE resumes it). */
export const pausedTenantRetryAfterSeconds = 60;

export interface TenantPauses {
  /** The tenant's pause, as read at most `tenantPauseCacheTtlMs` ago. */
  pauseOf(tenantId: string): Promise<TenantPause | undefined>;
  /** Throws `tenant_paused` (503, with Retry-After) when the tenant is paused. */
  assertNotPaused(tenantId: string): Promise<void>;
  /** Forgets what was read, so the next admission reads the ledger (after a resume here). */
  invalidate(): void;
}

/**
 * The paused tenants, read as one set at most once per TTL however many admissions ask (and by one
 * read when many ask at once), so a hot `POST /v1/runs` costs no ledger query of its own.
 */
export function createTenantPauses({
  ledger,
  ttlMs = tenantPauseCacheTtlMs,
  now = () => Date.now(),
}: {
  ledger: Pick<LedgerRepository, 'pausedTenants'>;
  ttlMs?: number;
  now?: () => number;
}): TenantPauses {
  let cached: { readAt: number; pauses: Promise<Map<string, TenantPause>> } | undefined;

  function current(): Promise<Map<string, TenantPause>> {
    if (cached && now() - cached.readAt < ttlMs) return cached.pauses;
    const read = { readAt: now(), pauses: ledger.pausedTenants().then((list) => new Map(list.map((p) => [p.tenantId, p]))) };
    // A failed read is not kept: the next admission tries again.
    read.pauses.catch(() => {
      if (cached === read) cached = undefined;
    });
    cached = read;
    return read.pauses;
  }

  return {
    async pauseOf(tenantId) {
      return (await current()).get(tenantId);
    },
    async assertNotPaused(tenantId) {
      const pause = (await current()).get(tenantId);
      if (pause) throw tenantPausedError(pause);
    },
    invalidate() {
      cached = undefined;
    },
  };
}

export function tenantPausedError(pause: TenantPause): PalyraError {
  return new PalyraError(
    'tenant_paused',
    `tenant '${pause.tenantId}' is paused by ${pause.pausedBy} since ${pause.pausedAt}: ${pause.reason}. ` +
      `New runs are refused until an SRE resumes it (POST /v1/tenants/${pause.tenantId}/resume).`,
    {
      tenantId: pause.tenantId,
      reason: pause.reason,
      pausedBy: pause.pausedBy,
      pausedAt: pause.pausedAt,
      ...(pause.incidentId ? { incidentId: pause.incidentId } : {}),
      retryAfterSeconds: pausedTenantRetryAfterSeconds,
    },
  );
}
