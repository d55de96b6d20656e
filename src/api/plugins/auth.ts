import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { createFailedAuthThrottle, type FailedAuthThrottleSettings } from './failed-auth-throttle';
import { roles, type AuthTokenConfig, type Role } from '../../config';
import { PalyraError } from '../../domain/errors';

/** Who is calling: the token's name, role and the tenants it may touch. */
export interface Principal {
  tokenName: string;
  role: Role;
  /** `['*']` means every tenant. */
  tenants: string[];
  /** Principal patterns the token is bound to; undefined: any principal. */
  principals?: string[];
}

/**
 * Route-level access rule, set in each route's `config.auth`. Routes without one are admin-only.
 * `allTenants`: the route reads or changes the whole installation (diagnostics, doctor, prices), so a
 * token scoped to some tenants may not use it, whatever its role.
 */
export type RouteAuth = 'public' | { role: Role; allTenants?: boolean };

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyInstance {
    /**
     * Whose valid token a request carries, whether or not the route let it through (a role too
     * low, a rate limit before authentication): how the audit log names who was refused.
     */
    tokenHolderOf(request: FastifyRequest): Principal | undefined;
  }
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Roles are cumulative: admin ⊇ sre ⊇ operator ⊇ service. */
export function roleAtLeast(have: Role, need: Role): boolean {
  return roles.indexOf(have) >= roles.indexOf(need);
}

export function canAccessTenant(principal: Principal, tenantId: string): boolean {
  return principal.tenants.includes('*') || principal.tenants.includes(tenantId);
}

/**
 * Throws 403 when the token is bound to principals (`auth.tokens[].principals`) and `principalId`
 * matches none of them, so a principal's `approval_required` budget cannot be sidestepped by naming
 * another principal with the same token.
 */
export function assertPrincipalAccess(principal: Principal, principalId: string): void {
  const bound = principal.principals;
  if (bound === undefined || bound.some((pattern) => principalPattern(pattern).test(principalId))) return;
  throw new PalyraError(
    'forbidden',
    `token '${principal.tokenName}' is bound to principal(s) ${bound.join(', ')}; it may not act as '${principalId}'`,
    { field: 'body.principalId' },
  );
}

function principalPattern(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

/** Throws 403 when the caller may not act for this tenant (used where the tenant comes from input). */
export function assertTenantAccess(principal: Principal, tenantId: string): void {
  if (!canAccessTenant(principal, tenantId)) {
    throw new PalyraError('forbidden', `token '${principal.tokenName}' may not act for tenant '${tenantId}'`);
  }
}

export interface AuthOptions {
  tokens: AuthTokenConfig[];
  failedAuth: FailedAuthThrottleSettings;
}

/**
 * Bearer-token authentication. Tokens are compared by their SHA-256, so the config may hold hashes
 * only and a lookup leaks nothing about near-misses.
 */
export const authPlugin = fp(
  async function auth(app: FastifyInstance, options: AuthOptions) {
    const byHash = new Map<string, Principal>();
    for (const token of options.tokens) {
      const hash = token.sha256 ?? sha256Hex(token.token as string);
      byHash.set(hash, {
        tokenName: token.name,
        role: token.role,
        tenants: token.tenants,
        ...(token.principals ? { principals: token.principals } : {}),
      });
    }

    const throttle = createFailedAuthThrottle(options.failedAuth);
    /** A failed authentication: logged as a security event (never the token) and counted against the address. */
    const failed = (request: FastifyRequest, reason: 'missing_token' | 'invalid_token', message: string): PalyraError => {
      const blockedMs = throttle.recordFailure(request.ip);
      request.log.warn(
        { securityEvent: 'authentication_failed', reason, ip: request.ip, route: request.routeOptions.url, blockedMs },
        'authentication failed',
      );
      return new PalyraError('unauthorized', message);
    };

    const holderOf = (request: FastifyRequest): Principal | undefined => {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
      return match ? byHash.get(sha256Hex(match[1] as string)) : undefined;
    };
    app.decorate('tokenHolderOf', (request: FastifyRequest) => request.principal ?? holderOf(request));
    app.decorateRequest('principal', null);
    app.addHook('onRequest', async (request: FastifyRequest) => {
      const rule = accessRule(request);
      if (rule === 'public') return;
      const waitMs = throttle.blockedFor(request.ip);
      if (waitMs > 0) {
        const retryAfterSeconds = Math.ceil(waitMs / 1000);
        throw new PalyraError(
          'rate_limited',
          `too many failed authentications from ${request.ip}: try again in ${retryAfterSeconds} s`,
          { retryAfterSeconds },
        );
      }
      if (!request.headers.authorization) {
        throw failed(request, 'missing_token', 'missing bearer token: send `Authorization: Bearer <token>`');
      }
      const principal = holderOf(request);
      if (!principal) throw failed(request, 'invalid_token', 'invalid bearer token');
      if (!roleAtLeast(principal.role, rule.role)) {
        throw new PalyraError(
          'forbidden',
          `token '${principal.tokenName}' has role '${principal.role}'; this route needs '${rule.role}' or higher`,
        );
      }
      if (rule.allTenants && !principal.tenants.includes('*')) {
        throw new PalyraError(
          'forbidden',
          `token '${principal.tokenName}' is scoped to tenant(s) ${principal.tenants.join(', ')}; ` +
            'this route covers the whole installation and needs a token for every tenant (`tenants: ["*"]`)',
        );
      }
      request.principal = principal;
    });
  },
  { name: 'palyra-auth' },
);

function accessRule(request: FastifyRequest): RouteAuth {
  const url = request.routeOptions.url;
  // Unmatched routes answer 404 anyway; the OpenAPI document and its UI are public by design.
  if (url === undefined || url.startsWith('/docs')) return 'public';
  return request.routeOptions.config.auth ?? { role: 'admin' };
}

/** The authenticated caller; routes with an auth rule always have one. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new PalyraError('unauthorized', 'not authenticated');
  return request.principal;
}
