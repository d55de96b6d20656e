import { policyApplies, type BudgetAction, type BudgetPolicy, type RunScope } from './policy';
import { policyWindowKey, type GenerationalPolicy } from './windows';

/** What a policy window holds right now, in the policy's metric unit. */
export interface WindowUsage {
  spent: number;
  reserved: number;
}

export type UsageLookup = (policyId: string, periodKey: string) => WindowUsage;

/** A request's size in both metrics; each policy reads the one it measures. */
export interface BudgetRequest {
  scope: RunScope;
  costMicroUsd: number;
  tokens: number;
}

export type PolicyStatus = 'ok' | 'soft_limit' | 'hard_limit' | 'blocked' | 'approval_required' | 'downgrade';

export interface PolicyEvaluation {
  policyId: string;
  periodKey: string;
  status: PolicyStatus;
  consumed: number;
  reserved: number;
  requested: number;
  projected: number;
  limit: number;
  softLimit?: number;
  action: BudgetAction;
  message: string;
}

const refusalStatus: Record<BudgetAction, PolicyStatus> = {
  block: 'blocked',
  approval_required: 'approval_required',
  downgrade: 'downgrade',
};

/**
 * Evaluates every enabled policy that applies to the request's scope (scope and window both
 * matter). Without a request (`null`) it reports each window's own standing: ok, soft_limit or
 * hard_limit (exhausted). With one, a request that would pass the hard limit gets the policy's
 * action as its status. Each policy reads the window of its current generation (`policyWindowKey`).
 */
export function evaluateBudgets(
  policies: readonly GenerationalPolicy[],
  usage: UsageLookup,
  request: BudgetRequest | null,
  now: Date,
  scope: RunScope | null = request?.scope ?? null,
): PolicyEvaluation[] {
  return policies
    .filter((policy) => (scope ? policyApplies(policy, scope) : policy.enabled))
    .map((policy) => {
      const key = policyWindowKey(policy, now);
      const { spent, reserved } = usage(policy.policyId, key);
      const requested = request ? (policy.metric === 'cost' ? request.costMicroUsd : request.tokens) : 0;
      const projected = spent + reserved + requested;
      const status = statusOf(policy, spent + reserved, projected, request !== null);
      return {
        policyId: policy.policyId,
        periodKey: key,
        status,
        consumed: spent,
        reserved,
        requested,
        projected,
        limit: policy.hardLimit,
        ...(policy.softLimit !== undefined ? { softLimit: policy.softLimit } : {}),
        action: policy.action,
        message: describe(policy, key, status, spent, reserved, requested),
      };
    });
}

function statusOf(policy: BudgetPolicy, committed: number, projected: number, hasRequest: boolean): PolicyStatus {
  if (hasRequest && projected > policy.hardLimit) return refusalStatus[policy.action];
  if (!hasRequest && committed >= policy.hardLimit) return 'hard_limit';
  if (policy.softLimit !== undefined && projected > policy.softLimit) return 'soft_limit';
  return 'ok';
}

function describe(
  policy: BudgetPolicy,
  key: string,
  status: PolicyStatus,
  spent: number,
  reserved: number,
  requested: number,
): string {
  const unit = policy.metric === 'cost' ? 'µUSD' : 'tokens';
  const numbers = `spent ${spent} + reserved ${reserved}${requested ? ` + requested ${requested}` : ''} ${unit} against hard limit ${policy.hardLimit}`;
  const where = `policy '${policy.policyId}' (${policy.scope.kind}${policy.scope.id ? ` ${policy.scope.id}` : ''}, ${policy.window} ${key})`;
  switch (status) {
    case 'ok':
      return `${where}: within limits (${numbers})`;
    case 'soft_limit':
      return `${where}: over the soft limit ${policy.softLimit} (${numbers})`;
    case 'hard_limit':
      return `${where}: hard limit reached (${numbers})`;
    case 'blocked':
      return `${where}: request blocked, it would exceed the hard limit (${numbers})`;
    case 'approval_required':
      return `${where}: needs an approval to exceed the hard limit (${numbers})`;
    case 'downgrade':
      return `${where}: a cheaper model is needed to stay within the hard limit (${numbers})`;
  }
}
