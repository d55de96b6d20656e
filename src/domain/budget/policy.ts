/** Budget policies (docs/architecture.md, Money). Pure types and matching; storage lives in src/ledger. */
export const scopeKinds = ['global', 'tenant', 'principal', 'model'] as const;
export const budgetMetrics = ['cost', 'tokens'] as const;
export const budgetWindows = ['day', 'week', 'month', 'total'] as const;
export const budgetActions = ['block', 'approval_required', 'downgrade'] as const;

export type ScopeKind = (typeof scopeKinds)[number];
export type BudgetMetric = (typeof budgetMetrics)[number];
export type BudgetWindow = (typeof budgetWindows)[number];
export type BudgetAction = (typeof budgetActions)[number];

export interface BudgetPolicy {
  policyId: string;
  /** `global` has no id; the others name a tenant, a principal (`tenant/principal`) or a model. */
  scope: { kind: ScopeKind; id?: string };
  metric: BudgetMetric;
  window: BudgetWindow;
  /** Limits are in the metric's unit: micro-USD for cost, tokens for tokens. */
  softLimit?: number;
  hardLimit: number;
  action: BudgetAction;
  enabled: boolean;
}

/** Who and what a request is for: every enabled policy whose scope matches applies. */
export interface RunScope {
  tenantId: string;
  principalId: string;
  modelId: string;
}

/** Principals are only unique within a tenant, so a principal scope id is `tenant/principal`. */
export function principalScopeId(tenantId: string, principalId: string): string {
  return `${tenantId}/${principalId}`;
}

export function policyApplies(policy: BudgetPolicy, scope: RunScope): boolean {
  if (!policy.enabled) return false;
  switch (policy.scope.kind) {
    case 'global':
      return true;
    case 'tenant':
      return policy.scope.id === scope.tenantId;
    case 'principal':
      return policy.scope.id === principalScopeId(scope.tenantId, scope.principalId);
    case 'model':
      return policy.scope.id === scope.modelId;
  }
}

/** Problems with a policy, each naming its field; empty when the policy is valid. */
export function policyProblems(policy: BudgetPolicy): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  if (!Number.isSafeInteger(policy.hardLimit) || policy.hardLimit < 0) {
    problems.push({ field: 'hardLimit', message: 'must be a non-negative integer (micro-USD for cost, tokens for tokens)' });
  }
  if (policy.softLimit !== undefined) {
    if (!Number.isSafeInteger(policy.softLimit) || policy.softLimit < 0) {
      problems.push({ field: 'softLimit', message: 'must be a non-negative integer' });
    } else if (policy.softLimit > policy.hardLimit) {
      problems.push({ field: 'softLimit', message: `must not exceed hardLimit (${policy.softLimit} > ${policy.hardLimit})` });
    }
  }
  if (policy.scope.kind === 'global' && policy.scope.id !== undefined) {
    problems.push({ field: 'scope.id', message: 'a global scope has no id' });
  }
  if (policy.scope.kind !== 'global' && !policy.scope.id) {
    problems.push({ field: 'scope.id', message: `a ${policy.scope.kind} scope needs an id` });
  }
  if (policy.scope.kind === 'principal' && policy.scope.id && !/^[^/]+\/[^/]+$/.test(policy.scope.id)) {
    problems.push({ field: 'scope.id', message: 'a principal scope id is `tenantId/principalId`' });
  }
  return problems;
}
