import { z } from 'zod';
import { budgetActions, budgetMetrics, budgetWindows, policyProblems, scopeKinds, type BudgetPolicy } from '../domain/budget';

export const policyIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'policyId may contain letters, digits and . _ : - only');

const policyFields = {
  scope: z.object({ kind: z.enum(scopeKinds), id: z.string().min(1).max(257).optional() }).strict(),
  metric: z.enum(budgetMetrics),
  window: z.enum(budgetWindows),
  softLimit: z.number().int().nonnegative().optional().describe('micro-USD for cost, tokens for tokens'),
  hardLimit: z.number().int().nonnegative().describe('micro-USD for cost, tokens for tokens'),
  action: z.enum(budgetActions).default('block'),
  enabled: z.boolean().default(true),
};

/** Cross-field rules (soft ≤ hard, scope ids) from the domain, reported on the field they concern. */
function addPolicyProblems(policy: Omit<BudgetPolicy, 'policyId'>, ctx: z.RefinementCtx): void {
  for (const problem of policyProblems({ policyId: 'checked', ...policy })) {
    ctx.addIssue({ code: 'custom', path: problem.field.split('.'), message: problem.message });
  }
}

/** A budget policy without its id (the id comes from the URL). */
export const budgetPolicyBodySchema = z.object(policyFields).strict().superRefine(addPolicyProblems);

/** A policy declared in the config file. */
export const configBudgetPolicySchema = z
  .object({ policyId: policyIdSchema, ...policyFields })
  .strict()
  .superRefine(addPolicyProblems);
