import { randomUUID } from 'node:crypto';
import { sql, type Selectable } from 'kysely';
import type { LedgerDatabase } from '../schema';
import type { LedgerContext } from './context';

/** Entries older than this are deleted (a few at a time, as new ones arrive). */
export const auditLogRetentionMs = 90 * 24 * 60 * 60_000;
/** How often one repository deletes expired entries: at most once per interval, on an insert. */
export const auditPruneIntervalMs = 60 * 60_000;
/** The most entries one list answers. */
export const maxAuditPage = 500;
/** Stored `detail` JSON longer than this is replaced by a note that it was cut. */
export const maxAuditDetailLength = 2_000;

export type AuditOutcome = 'succeeded' | 'refused';

export interface AuditRecord {
  /** The token's name (never the token). */
  actor: string;
  role: string;
  tenantId: string | null;
  /** `run.approve`, `budget.policy.put`, … */
  action: string;
  /** The id of what the action was on, when it names one. */
  target: string | null;
  outcome: AuditOutcome;
  /** The HTTP status the request answered. */
  status: number;
  /** The error code of a refusal. */
  errorCode: string | null;
  /** A few facts about the action (never a secret, token or free text). */
  detail: Record<string, unknown> | null;
  requestId: string;
}

export interface AuditEntry extends AuditRecord {
  id: string;
  at: string;
}

/** Where a page of entries continues: the last entry of the previous page. */
export interface AuditPosition {
  at: string;
  id: string;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  /** Inclusive, ISO-8601. */
  since?: string;
  /** Exclusive, ISO-8601. */
  until?: string;
  /** 1..500. */
  limit: number;
  after?: AuditPosition;
}

export interface AuditPage {
  items: AuditEntry[];
  /** Where the next page starts; null on the last page. */
  next: AuditPosition | null;
}

type AuditRow = Selectable<LedgerDatabase['audit_log']>;

/** The audit log: privileged actions of the API, newest first, kept for `auditLogRetentionMs`. */
export function createAudit({ db, dialect, clock }: LedgerContext) {
  /** Ids in byte order on both dialects, so ties on `at` page the same way everywhere. */
  const idOrder = dialect === 'postgres' ? sql<string>`id collate "C"` : sql<string>`id`;
  let prunedAt = Number.NEGATIVE_INFINITY;

  async function recordAudit(record: AuditRecord): Promise<AuditEntry> {
    const now = clock();
    const entry: AuditEntry = { id: randomUUID(), at: now.toISOString(), ...record };
    await db
      .insertInto('audit_log')
      .values({
        id: entry.id,
        at: entry.at,
        actor: entry.actor,
        role: entry.role,
        tenant_id: entry.tenantId,
        action: entry.action,
        target: entry.target,
        outcome: entry.outcome,
        status: entry.status,
        error_code: entry.errorCode,
        detail: storedDetail(entry.detail),
        request_id: entry.requestId,
      })
      .execute();
    if (now.getTime() - prunedAt >= auditPruneIntervalMs) {
      prunedAt = now.getTime();
      await pruneAudit(now);
    }
    return entry;
  }

  /** Deletes entries older than the retention bound; answers how many. */
  async function pruneAudit(now: Date = clock()): Promise<number> {
    const result = await db
      .deleteFrom('audit_log')
      .where('at', '<', new Date(now.getTime() - auditLogRetentionMs).toISOString())
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** Entries matching the filters, newest first, at most `maxAuditPage`. */
  async function listAudit(query: AuditQuery): Promise<AuditPage> {
    const limit = Math.max(1, Math.min(maxAuditPage, Math.floor(query.limit)));
    let select = db.selectFrom('audit_log').selectAll();
    if (query.actor !== undefined) select = select.where('actor', '=', query.actor);
    if (query.action !== undefined) select = select.where('action', '=', query.action);
    if (query.since !== undefined) select = select.where('at', '>=', query.since);
    if (query.until !== undefined) select = select.where('at', '<', query.until);
    const after = query.after;
    if (after) {
      select = select.where((eb) =>
        eb.or([eb('at', '<', after.at), eb.and([eb('at', '=', after.at), eb(idOrder, '<', after.id)])]),
      );
    }
    const rows = await select
      .orderBy('at', 'desc')
      .orderBy(idOrder, 'desc')
      .limit(limit + 1)
      .execute();
    const items = rows.slice(0, limit).map(toEntry);
    const last = items[items.length - 1];
    return { items, next: rows.length > limit && last ? { at: last.at, id: last.id } : null };
  }

  return { recordAudit, listAudit, pruneAudit };
}

function storedDetail(detail: Record<string, unknown> | null): string | null {
  if (detail === null) return null;
  const json = JSON.stringify(detail);
  return json.length <= maxAuditDetailLength ? json : JSON.stringify({ truncated: true, length: json.length });
}

function toEntry(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    at: row.at,
    actor: row.actor,
    role: row.role,
    tenantId: row.tenant_id,
    action: row.action,
    target: row.target,
    outcome: row.outcome as AuditOutcome,
    status: Number(row.status),
    errorCode: row.error_code,
    detail: row.detail === null ? null : (JSON.parse(row.detail) as Record<string, unknown>),
    requestId: row.request_id,
  };
}
