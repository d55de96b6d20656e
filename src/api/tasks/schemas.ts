import { z } from 'zod';
import { chatMessageSchema, simulationSchema } from '../common-schemas';
import { taskClasses } from '../../domain/routing';
import { taskKinds, taskOperatorActions, taskStates } from '../../domain/tasks';

const text = z
  .string()
  .min(1)
  .max(512 * 1024);

/** What every kind of task accepts besides its input. */
const taskOptions = {
  priority: z.number().int().min(-10).max(10).default(0).describe('-10..10; higher starts first, then creation order'),
  notBefore: z.iso.datetime({ offset: true }).optional().describe('the task does not start before this (a durable timer)'),
  expiresAt: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('a task not started by then ends `expired` without running; one still running then is stopped and ends `expired`'),
  timeoutMs: z
    .number()
    .int()
    .min(100)
    .max(7 * 24 * 3_600_000)
    .optional()
    .describe('bounds the task once started (all its attempts); past it the task is stopped and ends `failed` (`child_timeout`)'),
  maxAttempts: z.number().int().min(1).max(16).default(3).describe('attempts before the task ends `failed` with the last error'),
  budgetTokens: z
    .number()
    .int()
    .min(1)
    .max(1_000_000)
    .optional()
    .describe('caps the output tokens of each attempt (and so its reservation)'),
  model: z.string().min(1).max(200).optional().describe('otherwise routing picks one for the task class'),
  simulation: simulationSchema.optional(),
};

export const backgroundTaskRequestSchema = z
  .discriminatedUnion(
    'kind',
    [
      z
        .object({
          kind: z.literal('summary'),
          input: z.object({ text, maxWords: z.number().int().min(1).max(10_000).optional() }).strict(),
          ...taskOptions,
        })
        .strict(),
      z
        .object({
          kind: z.literal('extraction'),
          input: z.object({ text, fields: z.array(z.string().min(1).max(200)).min(1).max(100) }).strict(),
          ...taskOptions,
        })
        .strict(),
      z
        .object({
          kind: z.literal('classification'),
          input: z.object({ text, labels: z.array(z.string().min(1).max(200)).min(2).max(100) }).strict(),
          ...taskOptions,
        })
        .strict(),
      z
        .object({
          kind: z.literal('delegated_run'),
          input: z
            .object({
              messages: z.array(chatMessageSchema).min(1).max(1_000),
              taskClass: z.enum(taskClasses).optional().describe('default background_automation'),
            })
            .strict(),
          ...taskOptions,
        })
        .strict(),
    ],
    { error: () => `kind must be one of ${taskKinds.join(', ')}` },
  )
  .meta({
    id: 'BackgroundTaskRequest',
    description:
      'Background work of a run, started as the child workflow `bgtask-<taskId>` once the run is admitted. ' +
      'summary/extraction/classification take `input.text` (and `fields` / `labels`); delegated_run takes `input.messages`.',
  });
export type BackgroundTaskRequest = z.infer<typeof backgroundTaskRequestSchema>;

export const backgroundTasksField = z.array(backgroundTaskRequestSchema).max(200);

const taskErrorSchema = z.object({ code: z.string(), message: z.string() });

export const taskSchema = z
  .object({
    taskId: z.string(),
    runId: z.string(),
    kind: z.enum(taskKinds),
    state: z.enum(taskStates),
    attempt: z.number().int().describe('the attempt under way or last made; 0 before the first'),
    maxAttempts: z.number().int(),
    priority: z.number().int(),
    sequence: z.number().int().describe('creation order within the run'),
    notBefore: z.string().optional(),
    expiresAt: z.string().optional(),
    timeoutMs: z.number().int().optional(),
    budgetTokens: z.number().int().optional(),
    model: z.object({ requested: z.string().nullable(), selected: z.string() }),
    costMicroUsd: z.number().int().describe('all the task has paid, over every attempt and retry'),
    result: z.string().optional().describe('the start of the answer (500 characters at most)'),
    error: taskErrorSchema.optional(),
    dispatches: z.number().int().describe('how many times the task was started (the first time and each retry)'),
    createdAt: z.string(),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
    temporal: z.object({ workflowId: z.string(), runId: z.string().nullable(), uiUrl: z.string().nullable() }),
  })
  .meta({ id: 'BackgroundTask' });
export type TaskView = z.infer<typeof taskSchema>;

export const taskIdParamsSchema = z
  .object({
    taskId: z.string().regex(/^[0-9a-f-]{36}-[1-9][0-9]{0,3}$/, 'taskId must be <runId>-<n>, as the run reported it'),
  })
  .strict();

export const taskActionParamsSchema = taskIdParamsSchema.extend({ action: z.enum(taskOperatorActions) });

export const taskActionBodySchema = z
  .object({
    expiresAt: z.iso
      .datetime({ offset: true })
      .nullable()
      .optional()
      .describe('retry only: a new expiresAt, or null to drop it (a deadline already past is dropped anyway)'),
  })
  .strict()
  .default({})
  .meta({ id: 'TaskActionRequest' });
export type TaskActionBody = z.infer<typeof taskActionBodySchema>;

export const addTasksBodySchema = z
  .object({ backgroundTasks: backgroundTasksField.min(1) })
  .strict()
  .meta({ id: 'AddTasksRequest' });
export type AddTasksBody = z.infer<typeof addTasksBodySchema>;

export const addTasksResponseSchema = z.object({ tasks: z.array(taskSchema) }).meta({ id: 'AddTasksResponse' });
