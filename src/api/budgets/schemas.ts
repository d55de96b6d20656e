import { z } from 'zod';
import { budgetPolicyBodySchema, policyIdSchema } from '../../config/budget-policy';
import { budgetActions, budgetMetrics, budgetWindows, scopeKinds } from '../../domain/budget';
import { maxSpendSeries, otherSpendKey, spendBuckets, spendGroupings } from '../../ledger';
import { identifier } from '../common-schemas';

export { budgetPolicyBodySchema };

export const policyParamsSchema = z.object({ policyId: policyIdSchema }).strict();

const scopeSchema = z.object({ kind: z.enum(scopeKinds), id: z.string().optional() });

export const policySchema = z
  .object({
    policyId: z.string(),
    scope: scopeSchema,
    metric: z.enum(budgetMetrics),
    window: z.enum(budgetWindows),
    softLimit: z.number().int().optional(),
    hardLimit: z.number().int(),
    action: z.enum(budgetActions),
    enabled: z.boolean(),
    source: z.enum(['api', 'config']),
    generation: z.number().int().min(1).meta({
      readOnly: true,
      description:
        'Set by the ledger: bumped when metric, window or scope change, which starts fresh windows (periodKey `…#g<n>` past 1); limits, action and enabled keep them',
    }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'BudgetPolicy' });

export const policyListSchema = z.object({ items: z.array(policySchema) }).meta({ id: 'BudgetPolicyList' });

export const usageQuerySchema = z
  .object({
    at: z.iso.datetime({ offset: true }).optional().describe('show the windows that contain this instant (default: now)'),
    policyId: policyIdSchema.optional(),
  })
  .strict();

const alertSchema = z.object({
  threshold: z.enum(['pct80', 'pct95', 'soft', 'hard']),
  committed: z.number().int(),
  limit: z.number().int(),
  createdAt: z.string(),
});

export const usageSchema = z
  .object({
    at: z.string(),
    policies: z.array(
      z.object({
        policyId: z.string(),
        scope: scopeSchema,
        metric: z.enum(budgetMetrics),
        window: z.enum(budgetWindows),
        periodKey: z.string(),
        spent: z.number().int(),
        reserved: z.number().int(),
        limit: z.number().int(),
        softLimit: z.number().int().optional(),
        spentMicroUsd: z.number().int().optional(),
        reservedMicroUsd: z.number().int().optional(),
        limitMicroUsd: z.number().int().optional(),
        utilization: z.number(),
        status: z.enum(['ok', 'soft_limit', 'hard_limit']),
        enabled: z.boolean(),
        alerts: z.array(alertSchema),
      }),
    ),
  })
  .meta({ id: 'BudgetUsage' });

export const spendQuerySchema = z
  .object({
    groupBy: z.enum(spendGroupings).describe('one series per tenant, model, or policy whose window booked the spend'),
    bucket: z.enum(spendBuckets),
    since: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('widened to the start of its UTC bucket; default: start of today (hour), of the day 29 days ago (day)'),
    until: z.iso.datetime({ offset: true }).optional().describe('exclusive; default: now'),
    tenantId: identifier('tenantId').optional().describe('only this tenant (a tenant-scoped token: one of its own)'),
  })
  .strict();
export type SpendQueryParams = z.infer<typeof spendQuerySchema>;

export const spendSchema = z
  .object({
    groupBy: z.enum(spendGroupings),
    bucket: z.enum(spendBuckets),
    since: z.string().describe('start of the first bucket'),
    until: z.string().describe('exclusive end of the range'),
    series: z
      .array(
        z.object({
          key: z
            .string()
            .describe(`tenant id, model id or policy id; \`${otherSpendKey}\` sums the series past the top ${maxSpendSeries}`),
          totalMicroUsd: z.number().int(),
          points: z
            .array(
              z.object({
                start: z.string().describe('start of the bucket (UTC)'),
                costMicroUsd: z.number().int(),
                tokens: z.number().int(),
              }),
            )
            .describe('every bucket of the range, in order, 0 where nothing settled'),
        }),
      )
      .describe(`by total, highest first, at most ${maxSpendSeries} and \`${otherSpendKey}\` last`),
  })
  .meta({ id: 'BudgetSpend' });
