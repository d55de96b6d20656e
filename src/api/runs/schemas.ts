import { z } from 'zod';
import { chatMessageSchema, identifier, simulationSchema } from '../common-schemas';
import { backgroundTasksField, taskSchema } from '../tasks/schemas';
import { budgetActions, budgetMetrics, budgetWindows } from '../../domain/budget';
import { routingModes, taskClasses } from '../../domain/routing';
import { runStates } from '../../domain/run-state';
import { taskStates } from '../../domain/tasks';
import { routingDecisionSchema } from '../routing/schemas';

export const startRunBodySchema = z
  .object({
    tenantId: identifier('tenantId'),
    principalId: identifier('principalId'),
    messages: z.array(chatMessageSchema).min(1).max(1_000),
    model: z.string().min(1).max(200).optional(),
    maxOutputTokens: z.number().int().positive().max(1_000_000).optional(),
    simulation: simulationSchema.optional(),
    taskClass: z.enum(taskClasses).default('primary_interactive'),
    routingMode: z.enum(routingModes).optional().describe('this run only; otherwise routing.mode from config'),
    jsonMode: z.boolean().default(false).describe('the caller needs JSON output: only models that support it are candidates'),
    idempotencyKey: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe('the same key from the same tenant returns the same run and books nothing new; with other parameters, 409'),
    backgroundTasks: backgroundTasksField.optional().describe('child workflows the run starts once it is admitted'),
    maxConcurrentChildren: z
      .number()
      .int()
      .min(1)
      .max(32)
      .optional()
      .describe(
        'task children running at once (otherwise tasks.maxConcurrentChildren from config); the rest wait in priority order',
      ),
    detachBackgroundTasks: z
      .boolean()
      .optional()
      .describe(
        'complete once every task has started and let running tasks finish on their own (otherwise the run waits for them)',
      ),
  })
  .strict()
  .meta({ id: 'StartRunRequest' });
export type StartRunBody = z.infer<typeof startRunBodySchema>;

export const runIdParamsSchema = z.object({ runId: z.string().uuid('runId must be a UUID') }).strict();

const runErrorSchema = z.object({ code: z.string(), message: z.string() });

export const temporalLinkSchema = z.object({
  workflowId: z.string(),
  runId: z.string().nullable(),
  uiUrl: z.string().nullable(),
});

export const runAdmissionSchema = z
  .object({
    status: z.enum(['admitted', 'denied', 'awaiting_approval']),
    reservationId: z.string(),
    modelId: z.string().describe('the model admitted: routing may have chosen another than the one requested'),
    estimate: z.object({
      inputTokens: z.number().int(),
      maxOutputTokens: z.number().int(),
      expectedMicroUsd: z.number().int(),
      upperMicroUsd: z.number().int(),
      source: z.string(),
      precision: z.enum(['exact', 'estimated']),
      catalogVersion: z.string(),
    }),
    maxOutputTokens: z.number().int().describe('output tokens the run may produce; fewer than requested when clamped'),
    clamped: z.boolean(),
    reservedMicroUsd: z.number().int(),
    refusal: z
      .object({
        policyId: z.string(),
        window: z.enum(budgetWindows),
        periodKey: z.string(),
        metric: z.enum(budgetMetrics),
        action: z.enum(budgetActions),
        spent: z.number(),
        reserved: z.number(),
        limit: z.number(),
        requested: z.number(),
        message: z.string(),
      })
      .optional(),
  })
  .meta({ id: 'RunAdmission', description: 'The budget decision: the estimate and what the ledger reserved.' });

export const runSchema = z
  .object({
    runId: z.string(),
    tenantId: z.string(),
    principalId: z.string(),
    state: z.enum(runStates),
    model: z.object({ requested: z.string().nullable(), selected: z.string() }),
    usage: z.object({ inputTokens: z.number(), outputTokens: z.number(), estimated: z.boolean() }).nullable(),
    costMicroUsd: z.number().int(),
    routing: routingDecisionSchema.optional(),
    chargedAttempts: z
      .array(
        z.object({
          attempt: z.number().int(),
          inputTokens: z.number().int(),
          outputTokens: z.number().int(),
          failure: z.string(),
        }),
      )
      .optional()
      .describe('failed provider attempts that had streamed (the provider bills them), charged with the run'),
    admission: runAdmissionSchema.optional(),
    approval: z
      .object({
        decision: z.enum(['approve', 'deny']),
        note: z.string().optional(),
        decidedBy: z.string(),
        decidedAt: z.string(),
      })
      .optional(),
    output: z.string().optional(),
    error: runErrorSchema.optional(),
    backgroundTasks: z.array(taskSchema),
    backgroundTasksCostMicroUsd: z.number().int().optional().describe('what the tasks paid (not in costMicroUsd)'),
    createdAt: z.string(),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
    temporal: temporalLinkSchema,
  })
  .meta({ id: 'Run' });
export type RunView = z.infer<typeof runSchema>;

export const startRunResponseSchema = z
  .object({
    runId: z.string(),
    state: z.enum(runStates),
    model: z.object({ requested: z.string().nullable(), selected: z.string() }),
    maxOutputTokens: z.number().int(),
    admission: runAdmissionSchema
      .optional()
      .describe('absent when no worker decided within runs.admissionWaitMs; GET the run to follow it'),
    backgroundTasks: z.array(taskSchema).describe('the tasks as accepted (queued until the run is admitted)'),
    temporal: temporalLinkSchema,
  })
  .meta({ id: 'StartRunResponse' });
export type StartRunResponse = z.infer<typeof startRunResponseSchema>;

export const listRunsQuerySchema = z
  .object({
    tenantId: identifier('tenantId').optional(),
    state: z.enum(runStates).optional(),
    model: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:/@-]*$/, 'model may contain letters, digits and . _ : / @ - only')
      .optional(),
    taskClass: z.enum(taskClasses).optional(),
    since: z.iso.datetime({ offset: true }).optional().describe('runs started at or after this instant'),
    until: z.iso.datetime({ offset: true }).optional().describe('runs started before this instant'),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().min(1).max(4096).optional().describe('nextCursor of the previous page'),
  })
  .strict()
  .refine((q) => q.since === undefined || q.until === undefined || Date.parse(q.since) < Date.parse(q.until), {
    path: ['until'],
    message: 'until must be after since',
  });
export type ListRunsQuery = z.infer<typeof listRunsQuerySchema>;

export const runListSchema = z
  .object({
    items: z.array(
      runSchema.omit({ output: true }).extend({
        backgroundTasks: z.array(taskSchema).describe('always empty in a list: GET the run (or the task) for its tasks'),
        backgroundTaskCounts: z
          .object({
            total: z.number().int(),
            byState: z.record(z.enum(taskStates), z.number().int()).describe('every task state, with 0 for none'),
            costMicroUsd: z.number().int().describe('what the tasks paid in all (not in costMicroUsd)'),
          })
          .describe("the run's tasks: how many in each state, and their total cost"),
      }),
    ),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'RunList', description: 'Runs, newest first, without their output (GET the run for it).' });
export type RunList = z.infer<typeof runListSchema>;

export const cancelRunResponseSchema = z
  .object({ runId: z.string(), cancelRequested: z.literal(true), state: z.enum(runStates) })
  .meta({ id: 'CancelRunResponse' });

export const runApprovalBodySchema = z
  .object({
    decision: z.enum(['approve', 'deny']),
    note: z.string().max(2_000).optional(),
  })
  .strict()
  .meta({ id: 'RunApprovalRequest' });
export type RunApprovalBody = z.infer<typeof runApprovalBodySchema>;
