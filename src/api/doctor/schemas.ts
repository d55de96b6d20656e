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

/** Jobs that need an admin: they change the installation. */
export const doctorJobModesForAdmins = ['repair_apply', 'rollback_apply'] as const;
const doctorJobModes = ['diagnostics', 'repair_preview', 'repair_apply', 'rollback_preview', 'rollback_apply'] as const;

/** A recovery run's id, as `repair_apply` names it (a directory under the data dir: no path separators). */
const recoveryRunIdSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[\w.-]+$/, 'a recovery run id: letters, digits, `_`, `.` and `-` only')
  .describe("the recovery run to undo: a repair_apply job's `report.recovery.runId`");

export const doctorJobRequestSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('diagnostics') }).strict(),
  z.object({ mode: z.literal('repair_preview') }).strict(),
  z
    .object({
      mode: z.literal('repair_apply'),
      planHash: z
        .string()
        .regex(/^[0-9a-f]{16}$/)
        .optional()
        .describe('apply only if the plan still has this hash'),
    })
    .strict(),
  z.object({ mode: z.literal('rollback_preview'), runId: recoveryRunIdSchema }).strict(),
  z.object({ mode: z.literal('rollback_apply'), runId: recoveryRunIdSchema }).strict(),
]);
export type DoctorJobRequest = z.infer<typeof doctorJobRequestSchema>;

export const doctorJobSchema = z
  .object({
    jobId: z.uuid(),
    mode: z.enum(doctorJobModes),
    recoveryRunId: z.string().nullable().describe('the recovery run a rollback job undoes'),
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

export const doctorJobListSchema = z.object({ items: z.array(doctorJobSchema) }).meta({ id: 'DoctorJobList' });
