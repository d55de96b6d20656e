import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { LedgerRepository } from '../../ledger';
import { errorResponses } from '../errors';
import { fromParams } from '../plugins/audit';
import { assertTenantAccess, canAccessTenant, principalOf } from '../plugins/auth';
import { tenantPauseCacheTtlMs, type TenantPauses } from './pauses';
import { pausedTenantListSchema, resumeTenantResponseSchema, tenantParamsSchema } from './schemas';

export const tenantRoutes: FastifyPluginAsyncZod<{ ledger: LedgerRepository; pauses: TenantPauses }> = async (
  app,
  { ledger, pauses },
) => {
  app.get(
    '/v1/tenants/paused',
    {
      config: { auth: { role: 'operator' } },
      schema: {
        summary: 'List paused tenants',
        description:
          "Tenants whose new runs answer 503 `tenant_paused` (the `spend_spike` detector's `pause_tenant` remediation), " +
          'with who paused them and why. A token limited to some tenants sees only those.',
        tags: ['tenants'],
        security: [{ bearer: [] }],
        response: { 200: pausedTenantListSchema, ...errorResponses(401, 403, 429, 500, 503) },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      return { items: (await ledger.pausedTenants()).filter((p) => canAccessTenant(principal, p.tenantId)) };
    },
  );

  app.post(
    '/v1/tenants/:tenantId/resume',
    {
      config: {
        auth: { role: 'sre' },
        audit: { action: 'tenant.resume', target: fromParams('tenantId'), tenant: fromParams('tenantId') },
      },
      schema: {
        summary: 'Resume a paused tenant',
        description:
          "Lifts the tenant's pause: this API process admits its runs again at once, every other process within " +
          `${tenantPauseCacheTtlMs / 1000} s. Idempotent: resuming a tenant that is not paused answers \`resumed: false\`.`,
        tags: ['tenants'],
        security: [{ bearer: [] }],
        params: tenantParamsSchema,
        response: { 200: resumeTenantResponseSchema, ...errorResponses(400, 401, 403, 429, 500, 503) },
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      assertTenantAccess(principalOf(request), tenantId);
      const pause = await ledger.resumeTenant(tenantId);
      pauses.invalidate();
      return { tenantId, resumed: pause !== undefined, ...(pause ? { pause } : {}) };
    },
  );
};
