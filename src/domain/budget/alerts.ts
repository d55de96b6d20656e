import type { BudgetPolicy } from './policy';

export type AlertThreshold = 'pct80' | 'pct95' | 'soft' | 'hard';

/**
 * Thresholds a window has reached, given what it holds (spent + reserved). The ledger records
 * one alert per threshold per window, so reporting every reached threshold each time is safe.
 */
export function reachedThresholds(policy: Pick<BudgetPolicy, 'hardLimit' | 'softLimit'>, committed: number): AlertThreshold[] {
  const reached: AlertThreshold[] = [];
  // Integer comparisons (committed * 100 ≥ limit * 80) keep floats out of the money path.
  if (policy.hardLimit > 0 && committed * 100 >= policy.hardLimit * 80) reached.push('pct80');
  if (policy.hardLimit > 0 && committed * 100 >= policy.hardLimit * 95) reached.push('pct95');
  if (policy.softLimit !== undefined && committed > policy.softLimit) reached.push('soft');
  if (committed >= policy.hardLimit && policy.hardLimit > 0) reached.push('hard');
  return reached;
}
