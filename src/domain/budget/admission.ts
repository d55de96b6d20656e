import { costMicroUsd, maxOutputTokensWithin, type ModelPrice } from '../pricing';
import type { BudgetMetric, BudgetPolicy, BudgetWindow } from './policy';
import type { WindowUsage } from './evaluate';

/** One applicable policy with the window the request would book into. */
export interface AdmissionWindow {
  policy: BudgetPolicy;
  periodKey: string;
  usage: WindowUsage;
}

export interface AdmissionRequest {
  inputTokens: number;
  maxOutputTokens: number;
  price: ModelPrice;
  /** The fewest output tokens worth running with; below that the request is refused, not clamped. */
  minOutputTokens: number;
  /** An approval lets the request pass `approval_required` policies (it is still booked against them). */
  approvalOverride: boolean;
}

export interface Hold {
  policyId: string;
  periodKey: string;
  metric: BudgetMetric;
  amount: number;
}

/** Why a request was refused, with the numbers a caller needs to understand it. */
export interface BudgetRefusal {
  policyId: string;
  window: BudgetWindow;
  periodKey: string;
  metric: BudgetMetric;
  action: BudgetPolicy['action'];
  spent: number;
  reserved: number;
  limit: number;
  requested: number;
  message: string;
}

export type AdmissionDecision =
  | {
      admitted: true;
      maxOutputTokens: number;
      clamped: boolean;
      costMicroUsd: number;
      tokens: number;
      holds: Hold[];
      /** Policies an approval let this request exceed. */
      overriddenPolicyIds: string[];
    }
  | { admitted: false; refusal: BudgetRefusal };

/**
 * Admission against every applicable policy at once: admitted only if spent + reserved + amount
 * stays within every hard limit. When the full request does not fit but the input and at least
 * `minOutputTokens` of output do, `maxOutputTokens` is clamped to the largest value that fits.
 */
export function decideAdmission(windows: readonly AdmissionWindow[], request: AdmissionRequest): AdmissionDecision {
  const overridden = request.approvalOverride ? windows.filter((w) => w.policy.action === 'approval_required') : [];
  const binding = windows.filter((w) => !overridden.includes(w));

  let maxOutputTokens = request.maxOutputTokens;
  let tightest: { window: AdmissionWindow; allowed: number } | undefined;
  for (const window of binding) {
    const headroom = window.policy.hardLimit - window.usage.spent - window.usage.reserved;
    // -1 when not even the prompt fits: maxOutputTokensWithin answers 0 for that too, which would
    // admit a request for 0 output tokens whose prompt alone passes the limit.
    const promptCost = costMicroUsd(request.price, { inputTokens: request.inputTokens, outputTokens: 0 });
    const allowed =
      window.policy.metric === 'cost'
        ? promptCost > headroom
          ? -1
          : maxOutputTokensWithin(request.price, request.inputTokens, headroom)
        : headroom - request.inputTokens;
    if (!tightest || allowed < tightest.allowed) tightest = { window, allowed };
    maxOutputTokens = Math.min(maxOutputTokens, allowed);
  }

  const floor = Math.min(request.minOutputTokens, request.maxOutputTokens);
  if (maxOutputTokens < floor || maxOutputTokens < 0) {
    const { window } = tightest as { window: AdmissionWindow };
    const requested = amountFor(window.policy.metric, request, request.maxOutputTokens);
    return { admitted: false, refusal: budgetRefusal(window, requested, 'request') };
  }

  return {
    admitted: true,
    maxOutputTokens,
    clamped: maxOutputTokens < request.maxOutputTokens,
    costMicroUsd: amountFor('cost', request, maxOutputTokens),
    tokens: amountFor('tokens', request, maxOutputTokens),
    holds: windows.map((w) => ({
      policyId: w.policy.policyId,
      periodKey: w.periodKey,
      metric: w.policy.metric,
      amount: amountFor(w.policy.metric, request, maxOutputTokens),
    })),
    overriddenPolicyIds: overridden.map((w) => w.policy.policyId),
  };
}

function amountFor(metric: BudgetMetric, request: AdmissionRequest, outputTokens: number): number {
  return metric === 'cost'
    ? costMicroUsd(request.price, { inputTokens: request.inputTokens, outputTokens })
    : request.inputTokens + outputTokens;
}

/**
 * A refusal that explains itself: which policy and window, spent, reserved, limit and what was
 * asked, for a new request or for the top-up another provider attempt needs.
 */
export function budgetRefusal(
  { policy, usage, periodKey }: Pick<AdmissionWindow, 'policy' | 'usage' | 'periodKey'>,
  requested: number,
  asking: 'request' | 'retry',
): BudgetRefusal {
  const unit = policy.metric === 'cost' ? 'µUSD' : 'tokens';
  const what =
    asking === 'request'
      ? `refuses: spent ${usage.spent} + reserved ${usage.reserved} + requested ${requested} ${unit}`
      : `refuses another provider attempt: spent ${usage.spent} + reserved ${usage.reserved} + ${requested} ${unit} more for the retry`;
  return {
    policyId: policy.policyId,
    window: policy.window,
    periodKey,
    metric: policy.metric,
    action: policy.action,
    spent: usage.spent,
    reserved: usage.reserved,
    limit: policy.hardLimit,
    requested,
    message: `budget policy '${policy.policyId}' (${policy.window} ${periodKey}) ${what} exceeds the hard limit of ${policy.hardLimit} ${unit}`,
  };
}
