import type { BudgetRefusal } from '../../domain/budget';
import { PalyraError } from '../../domain/errors';

/**
 * A budget refusal as the API answers it: HTTP 402 with the policy, its window and the numbers,
 * in micro-USD for cost policies and tokens for token policies.
 */
export function budgetRefusalError(refusal: BudgetRefusal): PalyraError {
  const unit = refusal.metric === 'cost' ? 'MicroUsd' : 'Tokens';
  return new PalyraError('budget_exceeded', refusal.message, {
    policyId: refusal.policyId,
    window: refusal.window,
    periodKey: refusal.periodKey,
    metric: refusal.metric,
    action: refusal.action,
    [`spent${unit}`]: refusal.spent,
    [`reserved${unit}`]: refusal.reserved,
    [`limit${unit}`]: refusal.limit,
    [`requested${unit}`]: refusal.requested,
  });
}
