import {
  evaluateBudgets,
  policyApplies,
  policyWindowKey,
  type BudgetPolicy,
  type BudgetRequest,
  type PolicyEvaluation,
} from '../../domain/budget';
import type { LedgerContext } from './context';
import type { Policies } from './policies';
import { inWindows, windowId, type Windows } from './windows';

export interface WindowReport {
  policyId: string;
  scope: BudgetPolicy['scope'];
  metric: BudgetPolicy['metric'];
  window: BudgetPolicy['window'];
  periodKey: string;
  spent: number;
  reserved: number;
  limit: number;
  softLimit?: number;
  utilization: number;
  status: PolicyEvaluation['status'];
  enabled: boolean;
  alerts: { threshold: string; committed: number; limit: number; createdAt: string }[];
}

/** Reads for people and for routing: never locked, never written. */
export function createReports(
  { db, clock }: LedgerContext,
  { listPolicies }: Pick<Policies, 'listPolicies'>,
  { readWindows }: Pick<Windows, 'readWindows'>,
) {
  /** Every policy's current window (at `now`): spent, reserved, limit, utilization, status, alerts. */
  async function usageReport(now: Date = clock()): Promise<WindowReport[]> {
    const policies = await listPolicies();
    const keys = policies.map((p) => ({ policy: p, periodKey: policyWindowKey(p, now) }));
    const alerts = new Map<string, WindowReport['alerts']>();
    const lookup = await readWindows(keys);
    if (keys.length > 0) {
      const alertRows = await db.selectFrom('budget_alerts').selectAll().where(inWindows(keys)).orderBy('created_at').execute();
      for (const a of alertRows) {
        const id = windowId(a.policy_id, a.period_key);
        alerts.set(id, [
          ...(alerts.get(id) ?? []),
          { threshold: a.threshold, committed: a.committed, limit: a.limit_value, createdAt: a.created_at },
        ]);
      }
    }
    return keys.map(({ policy, periodKey: key }) => {
      const { spent, reserved } = lookup(policy.policyId, key);
      const [evaluation] = evaluateBudgets([{ ...policy, enabled: true }], lookup, null, now);
      return {
        policyId: policy.policyId,
        scope: policy.scope,
        metric: policy.metric,
        window: policy.window,
        periodKey: key,
        spent,
        reserved,
        limit: policy.hardLimit,
        ...(policy.softLimit !== undefined ? { softLimit: policy.softLimit } : {}),
        utilization: policy.hardLimit > 0 ? (spent + reserved) / policy.hardLimit : spent + reserved > 0 ? 1 : 0,
        status: evaluation?.status ?? 'ok',
        enabled: policy.enabled,
        alerts: alerts.get(windowId(policy.policyId, key)) ?? [],
      };
    });
  }

  /**
   * How every enabled policy that applies to the request would judge it now (routing reads the
   * most severe status: a `downgrade` policy moves the run to a cheaper model before admission).
   */
  async function evaluateRequest(request: BudgetRequest, now: Date = clock()): Promise<PolicyEvaluation[]> {
    const keys = (await listPolicies())
      .filter((policy) => policyApplies(policy, request.scope))
      .map((policy) => ({ policy, periodKey: policyWindowKey(policy, now) }));
    if (keys.length === 0) return [];
    const lookup = await readWindows(keys);
    return evaluateBudgets(
      keys.map((k) => k.policy),
      lookup,
      request,
      now,
    );
  }

  return { usageReport, evaluateRequest };
}
