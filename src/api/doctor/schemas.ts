import { z } from 'zod';
import { checkIds, repairIds } from '../../doctor';

const checkResultSchema = z.object({
  id: z.enum(checkIds),
  title: z.string(),
  status: z.enum(['ok', 'warn', 'fail', 'skipped']),
  detail: z.string(),
  hint: z.string().optional(),
  repair: z.enum(repairIds).optional().describe('the repair that fixes it'),
});

const repairStepSchema = z.object({
  repair: z.enum(repairIds),
  title: z.string(),
  touches: z.string().describe('what it changes, named'),
  blastRadius: z.string(),
  risky: z.boolean(),
  target: z.record(z.string(), z.unknown()),
});

const appliedStepSchema = z.object({
  step: repairStepSchema,
  change: z.enum(['created', 'modified', 'deleted', 'no_change', 'failed']),
  detail: z.string(),
  before: z.unknown(),
  after: z.unknown(),
  notUndoable: z.string().optional(),
});

export const doctorReportSchema = z
  .object({
    schemaVersion: z.literal(1),
    mode: z.enum(['diagnostics', 'repair_preview', 'repair_apply', 'rollback_preview', 'rollback_apply']),
    status: z.enum(['ok', 'warn', 'fail']),
    exitCode: z.union([z.literal(0), z.literal(1)]),
    checks: z.array(checkResultSchema),
    plan: z.object({ steps: z.array(repairStepSchema), hash: z.string() }).optional(),
    recovery: z
      .object({ runId: z.string(), manifestPath: z.string(), steps: z.array(appliedStepSchema), refused: z.string().optional() })
      .optional(),
    rollback: z
      .object({
        runId: z.string(),
        steps: z.array(z.object({ repair: z.enum(repairIds), outcome: z.string(), detail: z.string() })),
      })
      .optional(),
  })
  .meta({ id: 'DoctorReport', description: 'What `palyra doctor` reports, as `palyra doctor --json` prints it.' });

export const doctorJobRequestSchema = z
  .object({
    mode: z.enum(['diagnostics', 'repair_preview', 'repair_apply']),
    planHash: z
      .string()
      .regex(/^[0-9a-f]{16}$/)
      .optional()
      .describe('repair_apply: apply only if the plan still has this hash'),
  })
  .strict();
export type DoctorJobRequest = z.infer<typeof doctorJobRequestSchema>;

export const doctorJobSchema = z
  .object({
    jobId: z.uuid(),
    mode: z.enum(['diagnostics', 'repair_preview', 'repair_apply']),
    state: z.enum(['queued', 'running', 'succeeded', 'failed']),
    requestedBy: z.string(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    report: doctorReportSchema.nullable(),
    error: z.string().nullable().describe('why the job could not run at all (a failing check is in the report)'),
  })
  .meta({ id: 'DoctorJob' });
export type DoctorJob = z.infer<typeof doctorJobSchema>;

export const doctorJobParamsSchema = z.object({ jobId: z.uuid() });
