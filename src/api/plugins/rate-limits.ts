import { createHash } from 'node:crypto';
import type { RateLimitPluginOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PalyraConfig } from '../../config';
import { PalyraError } from '../../domain/errors';

/**
 * Routes that cost much more than a read (a workflow start, a routing plan over the catalog): they
 * draw on a budget of their own, a `heavyRouteShare` of the token's.
 */
export const heavyRoutes = new Set(['POST /v1/runs', 'POST /v1/runs/:runId/tasks', 'POST /v1/routing/plan']);
export const heavyRouteShare = 0.25;

/**
 * Request limits per token, not per address (issue 14): each bearer token has its own bucket (keyed
 * by a hash of what was presented, so the token never sits in memory in the clear), and requests
 * without one (public routes, unauthenticated attempts) share their address's. Heavy routes count
 * in a second, smaller bucket of the same key. The 429 says the limit, its window and when to retry,
 * with `Retry-After`.
 */
export function rateLimitOptions(config: Pick<PalyraConfig, 'server'>): RateLimitPluginOptions {
  const { max, timeWindowMs } = config.server.rateLimit;
  const heavyMax = Math.max(1, Math.floor(max * heavyRouteShare));
  return {
    global: true,
    timeWindow: timeWindowMs,
    keyGenerator: (request) => `${callerKey(request)}${isHeavy(request) ? ':heavy' : ''}`,
    max: (request) => (isHeavy(request) ? heavyMax : max),
    errorResponseBuilder: (request, context) => {
      const who = request.headers.authorization ? 'this token' : `address ${request.ip}`;
      const which = isHeavy(request) ? ` on ${request.routeOptions.url ?? 'this route'} (a heavy route)` : '';
      const retryAfterSeconds = Math.max(1, Math.ceil(context.ttl / 1000));
      return Object.assign(
        new PalyraError(
          'rate_limited',
          `rate limit of ${context.max} requests per ${formatWindow(timeWindowMs)} for ${who}${which} exceeded; retry in ${retryAfterSeconds} s`,
          { retryAfterSeconds },
        ),
        { statusCode: 429 },
      );
    },
  };
}

function callerKey(request: FastifyRequest): string {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  if (!match) return `ip:${request.ip}`;
  return `token:${createHash('sha256')
    .update(match[1] as string)
    .digest('hex')
    .slice(0, 32)}`;
}

function isHeavy(request: FastifyRequest): boolean {
  return heavyRoutes.has(`${request.method} ${request.routeOptions.url ?? ''}`);
}

function formatWindow(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}

/** Tenants tracked at once by the per-tenant limit; the oldest windows are dropped past it. */
const maxTrackedTenants = 10_000;

/**
 * The per-tenant limit (issue 14: limits per token and per tenant): the requests of every token
 * scoped to exactly one tenant count together against `perTenantMax` per window, so a tenant cannot
 * multiply its budget by minting tokens. All-tenant and multi-tenant tokens (operators, admins) are
 * limited per token only. Runs after authentication (it needs the caller's tenants).
 */
export function registerTenantRateLimit(app: FastifyInstance, config: Pick<PalyraConfig, 'server'>): void {
  const { perTenantMax, timeWindowMs } = config.server.rateLimit;
  const windows = new Map<string, { startedAt: number; count: number }>();
  app.addHook('onRequest', async (request) => {
    const tenants = request.principal?.tenants;
    if (!tenants || tenants.length !== 1 || tenants[0] === '*') return;
    const tenant = tenants[0] as string;
    const now = Date.now();
    let window = windows.get(tenant);
    if (!window || now - window.startedAt >= timeWindowMs) {
      window = { startedAt: now, count: 0 };
      windows.delete(tenant);
      windows.set(tenant, window);
      if (windows.size > maxTrackedTenants) windows.delete(windows.keys().next().value as string);
    }
    window.count += 1;
    if (window.count > perTenantMax) {
      const retryAfterSeconds = Math.max(1, Math.ceil((window.startedAt + timeWindowMs - now) / 1000));
      throw new PalyraError(
        'rate_limited',
        `rate limit of ${perTenantMax} requests per ${formatWindow(timeWindowMs)} for tenant ${tenant} (all its tokens) exceeded; retry in ${retryAfterSeconds} s`,
        { retryAfterSeconds },
      );
    }
  });
}
