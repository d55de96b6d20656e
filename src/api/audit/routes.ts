import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { PalyraError } from '../../domain/errors';
import type { AuditPosition, LedgerRepository } from '../../ledger';
import { errorResponses } from '../errors';
import { auditListSchema, listAuditQuerySchema } from './schemas';

/**
 * A cursor is where the previous page ended (its last entry's time and id). It only says where to
 * continue in entries an all-tenant admin may read anyway, so it needs no MAC; a malformed one is a
 * 400 naming query.cursor.
 */
export function encodeAuditCursor(position: AuditPosition): string {
  return Buffer.from(JSON.stringify([position.at, position.id])).toString('base64url');
}

export function decodeAuditCursor(cursor: string): AuditPosition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const [at, id] = Array.isArray(parsed) && parsed.length === 2 ? (parsed as unknown[]) : [];
  if (
    typeof at !== 'string' ||
    typeof id !== 'string' ||
    Number.isNaN(Date.parse(at)) ||
    new Date(at).toISOString() !== at ||
    !/^[0-9a-f-]{36}$/.test(id)
  ) {
    throw new PalyraError('validation_failed', 'query.cursor is not a cursor this API returned', { field: 'query.cursor' });
  }
  return { at, id };
}

export const auditRoutes: FastifyPluginAsyncZod<{ ledger: LedgerRepository }> = async (app, { ledger }) => {
  app.get(
    '/v1/audit',
    {
      config: { auth: { role: 'admin', allTenants: true } },
      schema: {
        summary: 'Read the audit log',
        description:
          'Privileged actions (approvals, cancellations, budget policies, price overrides, task and incident actions, ' +
          'tenant resumes, doctor jobs), newest first: who (the token name), what, on which target, when and the outcome ' +
          '(`refused` with the status and error code). Requests without a valid token are not recorded. Entries are ' +
          'kept 90 days. Only an all-tenant admin token may read it (the log spans tenants): others get 403.',
        tags: ['audit'],
        security: [{ bearer: [] }],
        querystring: listAuditQuerySchema,
        response: { 200: auditListSchema, ...errorResponses(400, 401, 403, 429, 500, 503) },
      },
    },
    async (request) => {
      // A token scoped to some tenants never gets here (`allTenants`).
      const { actor, action, since, until, limit, cursor } = request.query;
      const page = await ledger.listAudit({
        limit,
        ...(actor !== undefined ? { actor } : {}),
        ...(action !== undefined ? { action } : {}),
        ...(since !== undefined ? { since: new Date(since).toISOString() } : {}),
        ...(until !== undefined ? { until: new Date(until).toISOString() } : {}),
        ...(cursor !== undefined ? { after: decodeAuditCursor(cursor) } : {}),
      });
      return { items: page.items, nextCursor: page.next ? encodeAuditCursor(page.next) : null };
    },
  );
};
