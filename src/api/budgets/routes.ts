import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { BudgetPolicy } from '../../domain/budget';
import { PalyraError } from '../../domain/errors';
import type { LedgerRepository, StoredPolicy } from '../../ledger';
import { errorResponses } from '../errors';
import { bodyFacts, fromParams, type RouteAudit } from '../plugins/audit';
import { assertTenantAccess, canAccessTenant, principalOf, type Principal } from '../plugins/auth';
import {
  budgetPolicyBodySchema,
  policyListSchema,
  policyParamsSchema,
  policySchema,
  spendQuerySchema,
  spendSchema,
  usageQuerySchema,
  usageSchema,
  type SpendQueryParams,
} from './schemas';
import { spendRange } from './spend-range';

/**
 * A token limited to some tenants sees (and, as admin, changes) only policies scoped to those
 * tenants or their principals; global and model policies span tenants, so they need `*`.
 */
function policyVisibleTo(principal: Principal, policy: Pick<BudgetPolicy, 'scope'>): boolean {
  if (principal.tenants.includes('*')) return true;
  const { kind, id } = policy.scope;
  if (kind === 'tenant' && id) return canAccessTenant(principal, id);
  if (kind === 'principal' && id) return canAccessTenant(principal, id.split('/')[0] as string);
  return false;
}

/** A policy put is audited with its scope and limits; its tenant is the scope's, when it has one. */
const policyPutAudit: RouteAudit = {
  action: 'budget.policy.put',
  target: fromParams('policyId'),
  tenant(request) {
    const scope = (request.body as { scope?: { kind?: unknown; id?: unknown } } | undefined)?.scope;
    if (typeof scope?.id !== 'string' || scope.id.length > 128) return undefined;
    if (scope.kind === 'tenant') return scope.id;
    return scope.kind === 'principal' ? scope.id.split('/')[0] : undefined;
  },
  detail(request) {
    const scope = (request.body as { scope?: { kind?: unknown; id?: unknown } } | undefined)?.scope;
    const scopeText =
      typeof scope?.kind === 'string' ? `${scope.kind}${typeof scope.id === 'string' ? `:${scope.id}` : ''}` : undefined;
    return {
      ...(scopeText !== undefined && scopeText.length <= 200 ? { scope: scopeText } : {}),
      ...bodyFacts('metric', 'window', 'hardLimit', 'softLimit', 'action', 'enabled')(request),
    };
  },
};

export const budgetRoutes: FastifyPluginAsyncZod<{ ledger: LedgerRepository }> = async (app, { ledger }) => {
  const notFound = (policyId: string) => new PalyraError('not_found', `budget policy '${policyId}' not found`);
  const visible = async (principal: Principal, policyId: string): Promise<StoredPolicy> => {
    const policy = await ledger.getPolicy(policyId);
    if (!policy || !policyVisibleTo(principal, policy)) throw notFound(policyId);
    return policy;
  };

  app.get(
    '/v1/budgets/policies',
    {
      config: { auth: { role: 'operator' } },
      schema: {
        summary: 'List budget policies',
        tags: ['budgets'],
        security: [{ bearer: [] }],
        response: { 200: policyListSchema, ...errorResponses(401, 403, 429, 500, 503) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      return { items: (await ledger.listPolicies()).filter((p) => policyVisibleTo(principal, p)) };
    },
  );

  app.get(
    '/v1/budgets/policies/:policyId',
    {
      config: { auth: { role: 'operator' } },
      schema: {
        summary: 'Get a budget policy',
        tags: ['budgets'],
        security: [{ bearer: [] }],
        params: policyParamsSchema,
        response: { 200: policySchema, ...errorResponses(400, 401, 403, 404, 429, 500, 503) },
      },
    },
    async (request) => visible(principalOf(request), request.params.policyId),
  );

  app.put(
    '/v1/budgets/policies/:policyId',
    {
      config: { auth: { role: 'admin' }, audit: policyPutAudit },
      schema: {
        summary: 'Create or replace a budget policy',
        description:
          'Limits are integers in the metric unit: micro-USD for `cost`, tokens for `tokens`. Config-declared policies answer 409.',
        tags: ['budgets'],
        security: [{ bearer: [] }],
        params: policyParamsSchema,
        body: budgetPolicyBodySchema,
        response: { 200: policySchema, 201: policySchema, ...errorResponses(400, 401, 403, 404, 409, 429, 500, 503) },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const policy: BudgetPolicy = { policyId: request.params.policyId, ...request.body };
      if (!policyVisibleTo(principal, policy)) {
        throw new PalyraError(
          'forbidden',
          `token '${principal.tokenName}' may not set a ${policy.scope.kind} policy outside its tenants`,
        );
      }
      const existing = await ledger.getPolicy(policy.policyId);
      if (existing && !policyVisibleTo(principal, existing)) throw notFound(policy.policyId);
      const { policy: stored, created } = await ledger.putPolicy(policy, 'api');
      return reply.code(created ? 201 : 200).send(stored);
    },
  );

  app.delete(
    '/v1/budgets/policies/:policyId',
    {
      config: { auth: { role: 'admin' }, audit: { action: 'budget.policy.delete', target: fromParams('policyId') } },
      schema: {
        summary: 'Delete a budget policy',
        description: 'Its windows stay, so reservations holding them can still settle and release.',
        tags: ['budgets'],
        security: [{ bearer: [] }],
        params: policyParamsSchema,
        response: { 204: z.null().describe('deleted'), ...errorResponses(400, 401, 403, 404, 409, 429, 500, 503) },
      },
    },
    async (request, reply) => {
      await visible(principalOf(request), request.params.policyId);
      await ledger.deletePolicy(request.params.policyId);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/budgets/usage',
    {
      config: { auth: { role: 'operator' } },
      schema: {
        summary: 'Usage per policy window',
        description:
          'For each policy, the window containing `at` (default now): spent, reserved, limit, utilization, status and alerts.',
        tags: ['budgets'],
        security: [{ bearer: [] }],
        querystring: usageQuerySchema,
        response: { 200: usageSchema, ...errorResponses(400, 401, 403, 429, 500, 503) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const at = request.query.at ? new Date(request.query.at) : new Date();
      const windows = (await ledger.usageReport(at)).filter(
        (w) => policyVisibleTo(principal, w) && (!request.query.policyId || w.policyId === request.query.policyId),
      );
      return {
        at: at.toISOString(),
        policies: windows.map((w) => ({
          ...w,
          status: w.status as 'ok' | 'soft_limit' | 'hard_limit',
          alerts: w.alerts.map((a) => ({ ...a, threshold: a.threshold as 'pct80' | 'pct95' | 'soft' | 'hard' })),
          ...(w.metric === 'cost' ? { spentMicroUsd: w.spent, reservedMicroUsd: w.reserved, limitMicroUsd: w.limit } : {}),
        })),
      };
    },
  );

  app.get(
    '/v1/budgets/spend',
    {
      config: { auth: { role: 'operator' } },
      schema: {
        summary: 'Settled spend over time',
        description:
          'What settlement booked (settled reservations: cost and tokens at the time they settled), per hour or UTC day, ' +
          'one series per tenant, model or policy. Every bucket of the range is in every series (0 where nothing settled); ' +
          'at most 744 hourly or 366 daily buckets. The top 20 series by total are shown, the rest summed into `(other)`. ' +
          'By policy, a run counts under every policy whose window it was booked in, so the series overlap. ' +
          'A tenant-scoped token sees only its tenants (and, by policy, only policies scoped to them).',
        tags: ['budgets'],
        security: [{ bearer: [] }],
        querystring: spendQuerySchema,
        response: { 200: spendSchema, ...errorResponses(400, 401, 403, 429, 500, 503) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const { groupBy, bucket } = request.query;
      const range = spendRange(request.query, new Date());
      const report = await ledger.spendReport({
        groupBy,
        bucket,
        ...range,
        ...(await spendScope(principal, request.query)),
      });
      return { groupBy, bucket, ...report };
    },
  );

  /** Whose spend a caller may chart: the tenant asked for, else its tenants; by policy, only the policies it may see. */
  async function spendScope(
    principal: Principal,
    { groupBy, tenantId }: SpendQueryParams,
  ): Promise<{ tenants?: string[]; policyIds?: string[] }> {
    if (tenantId) assertTenantAccess(principal, tenantId);
    const everyTenant = principal.tenants.includes('*');
    const tenants = tenantId ? [tenantId] : everyTenant ? undefined : principal.tenants;
    if (groupBy !== 'policy' || everyTenant) return tenants ? { tenants } : {};
    const policyIds = (await ledger.listPolicies()).filter((p) => policyVisibleTo(principal, p)).map((p) => p.policyId);
    return { ...(tenants ? { tenants } : {}), policyIds };
  }
};
