import { z } from 'zod';
import {
  detectorNames,
  incidentActions,
  incidentStates,
  remediationIds,
  remediationRisks,
  severities,
  subjectKinds,
} from '../../domain/self-healing';
import { temporalLinkSchema } from '../runs/schemas';

export const incidentIdPattern = /^incident-[0-9a-f]{16}$/;

export const incidentIdParamsSchema = z
  .object({
    incidentId: z.string().regex(incidentIdPattern, 'incidentId must be incident-<16 lowercase hex digits>'),
  })
  .strict();

const remediationSchema = z
  .object({
    id: z.enum(remediationIds),
    label: z.string(),
    risk: z.enum(remediationRisks),
    blastRadius: z.string().describe('who or what the action touches'),
    requiresApproval: z.boolean().describe('a person must approve it, whatever the mode'),
    autoExecutable: z.boolean().describe('it may run without a person under the mode in force for its detector'),
    fixesProblem: z
      .boolean()
      .describe('success ends the problem; `page` does not: its incident stays open until the evidence clears'),
    target: z.record(z.string(), z.union([z.string(), z.number()])).describe('what it acts on (ids)'),
  })
  .meta({ id: 'Remediation', description: 'What can be done about the incident.' });

export const incidentSchema = z
  .object({
    incidentId: z.string(),
    detector: z.enum(detectorNames),
    dedupeKey: z.string().describe('the same problem seen again maps to the same incident'),
    severity: z.enum(severities),
    state: z.enum(incidentStates),
    summary: z.string(),
    subject: z.object({ kind: z.enum(subjectKinds), id: z.string() }).describe('what the problem is about'),
    tenantId: z
      .string()
      .optional()
      .describe('the tenant the problem belongs to; absent for installation-wide incidents (task queues, workflows)'),
    evidence: z.record(z.string(), z.unknown()).describe('the facts that triggered it, as the supervisor last saw them'),
    remediation: remediationSchema.optional(),
    attempts: z
      .array(
        z.object({
          remediationId: z.enum(remediationIds),
          status: z.enum(['succeeded', 'failed', 'skipped']),
          detail: z.string(),
          by: z.string().describe('`supervisor` for an automatic attempt, else who approved it'),
          at: z.string(),
        }),
      )
      .describe('remediation attempts, oldest first (the most recent ones; the workflow history has all)'),
    history: z
      .array(z.object({ at: z.string(), kind: z.string(), detail: z.string(), by: z.string().optional() }))
      .describe('the most recent observations, decisions and state changes, oldest first'),
    observations: z.number().int().describe('how many times the supervisor has seen the problem'),
    createdAt: z.string(),
    updatedAt: z.string(),
    resolvedAt: z.string().optional(),
    resolution: z.string().optional().describe('why it ended: evidence_cleared, remediated, resolved_by_sre, rejected, …'),
    temporal: temporalLinkSchema,
  })
  .meta({ id: 'Incident', description: 'One problem the supervisor found, from detection to resolution.' });
export type IncidentView = z.infer<typeof incidentSchema>;

export const listIncidentsQuerySchema = z
  .object({
    state: z.enum(incidentStates).optional(),
    detector: z.enum(detectorNames).optional(),
    severity: z.enum(severities).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    cursor: z.string().min(1).max(4096).optional().describe('nextCursor of the previous page'),
  })
  .strict();
export type ListIncidentsQuery = z.infer<typeof listIncidentsQuerySchema>;

export const incidentListSchema = z
  .object({
    items: z.array(incidentSchema),
    nextCursor: z
      .string()
      .nullable()
      .describe('more incidents may follow (a page can be short for a tenant-scoped token): null only at the end'),
  })
  .meta({ id: 'IncidentList', description: 'Incidents, newest first.' });
export type IncidentList = z.infer<typeof incidentListSchema>;

export const incidentActionBodySchema = z
  .object({
    action: z
      .enum(incidentActions)
      .describe(
        'approve: run the remediation (from awaiting_approval); reject: close it with nothing done (open, awaiting_approval); ' +
          'retry: offer a failed remediation again (failed); resolve: close it by hand (open, awaiting_approval, failed)',
      ),
    note: z.string().max(1_000).optional().describe('kept in the incident history with the decision'),
  })
  .strict()
  .meta({ id: 'IncidentActionRequest' });
export type IncidentActionBody = z.infer<typeof incidentActionBodySchema>;
