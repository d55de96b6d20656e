import { z } from 'zod';
import { maxAuditPage } from '../../ledger';

const isoInstant = z.iso.datetime({ offset: true });

export const listAuditQuerySchema = z
  .object({
    actor: z.string().min(1).max(128).optional().describe("only this token's entries (the token's name)"),
    action: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-z]+(\.[a-z_]+)+$/, 'action is dotted lower-case words, e.g. run.approve')
      .optional()
      .describe(
        'only this action: run.approve | run.deny | run.cancel | budget.policy.put | budget.policy.delete | ' +
          'pricing.override.put | task.pause | task.resume | task.retry | task.cancel | incident.approve | ' +
          'incident.reject | incident.retry | incident.resolve | tenant.resume | doctor.job.start',
      ),
    since: isoInstant.optional().describe('entries at or after this instant (ISO-8601)'),
    until: isoInstant.optional().describe('entries before this instant (ISO-8601)'),
    limit: z.coerce.number().int().min(1).max(maxAuditPage).default(50).describe(`page size, 1..${maxAuditPage}`),
    cursor: z.string().min(1).max(512).optional().describe('nextCursor of the previous page'),
  })
  .strict();
export type ListAuditQuery = z.infer<typeof listAuditQuerySchema>;

export const auditEntrySchema = z
  .object({
    id: z.uuid(),
    at: z.string().describe('when the request was answered (ISO-8601 UTC)'),
    actor: z.string().describe("the token's name (never the token)"),
    role: z.string().describe("the token's role"),
    tenantId: z.string().nullable().describe('the tenant the request named, when it named one'),
    action: z.string().describe('what was asked for, e.g. run.approve or budget.policy.put'),
    target: z.string().nullable().describe('the id of what it was asked for on (run, policy, model, task, incident, tenant)'),
    outcome: z.enum(['succeeded', 'refused']).describe('succeeded: answered 2xx; refused: anything else'),
    status: z.number().int().describe('the HTTP status the request answered'),
    errorCode: z.string().nullable().describe('the error code of a refusal, e.g. conflict or forbidden'),
    detail: z
      .record(z.string(), z.unknown())
      .nullable()
      .describe('a few facts of the request (a doctor mode, a policy limit); never a secret or a token'),
    requestId: z.string().describe("the request id, as in the logs (the client's x-request-id when it sent a safe one)"),
  })
  .meta({ id: 'AuditEntry' });

export const auditListSchema = z
  .object({
    items: z.array(auditEntrySchema).describe('newest first'),
    nextCursor: z.string().nullable().describe('pass as cursor for the next page; null on the last page'),
  })
  .meta({ id: 'AuditList' });
export type AuditList = z.infer<typeof auditListSchema>;
