import { z } from 'zod';
import { identifier } from '../common-schemas';

export const tenantParamsSchema = z.object({ tenantId: identifier('tenantId') }).strict();

export const tenantPauseSchema = z
  .object({
    tenantId: z.string(),
    reason: z.string(),
    pausedBy: z.string().describe('who paused it: `supervisor` or the SRE who approved the remediation'),
    pausedAt: z.string(),
    incidentId: z.string().optional().describe('the incident whose remediation paused it'),
  })
  .meta({ id: 'TenantPause' });

export const pausedTenantListSchema = z.object({ items: z.array(tenantPauseSchema) }).meta({ id: 'PausedTenantList' });

export const resumeTenantResponseSchema = z
  .object({
    tenantId: z.string(),
    resumed: z.boolean().describe('false when the tenant was not paused (resuming is idempotent)'),
    pause: tenantPauseSchema.optional().describe('the pause that was lifted'),
  })
  .meta({ id: 'TenantResumed' });
