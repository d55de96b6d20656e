import type { SectionContext } from '../deps';
import { verdictOf, type Finding } from '../run-section';
import type { BudgetAlertFigures, BudgetsFigures, SectionVerdict } from '../types';

/** A section is a summary: past this many policies the list is cut (`truncated`). */
export const maxBudgetPolicies = 100;
export const maxBudgetAlerts = 20;

/** Every policy's current window, from the same report as `GET /v1/budgets/usage`. */
export async function budgetsSection({ deps, now }: SectionContext): Promise<SectionVerdict & BudgetsFigures> {
  const report = await deps.ledger.usageReport(now);
  const policies = report.slice(0, maxBudgetPolicies).map(({ alerts: _alerts, ...policy }) => policy);
  const recentAlerts: BudgetAlertFigures[] = report
    .flatMap((policy) => policy.alerts.map((alert) => ({ policyId: policy.policyId, ...alert })))
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
    .slice(0, maxBudgetAlerts);
  const findings: Finding[] = report
    .filter((policy) => policy.enabled && policy.status === 'hard_limit')
    .map((policy) => ({
      status: 'degraded' as const,
      code: 'budget_hard_limit',
      hint: `policy ${policy.policyId} is at its hard limit for ${policy.periodKey} (${Math.round(policy.utilization * 100)} %): runs it covers are refused`,
    }));
  return { ...verdictOf(findings), policies, truncated: report.length > maxBudgetPolicies, recentAlerts };
}
