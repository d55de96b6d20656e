import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter } from 'prom-client';
import type { AuditRecord, LedgerRepository } from '../../ledger';

/**
 * A privileged route's audit rule, set in its `config.audit`. Every function reads the request as
 * the client sent it, which a refused request may not have validated: they pick known fields only
 * and answer undefined for anything else.
 */
export interface RouteAudit {
  /** `run.approve`, `budget.policy.put`, …; a function when the request says which (approve or deny). */
  action: string | ((request: FastifyRequest) => string);
  /** The id of what the action is on. */
  target?: (request: FastifyRequest) => string | undefined;
  /** The tenant, when the request names one. */
  tenant?: (request: FastifyRequest) => string | undefined;
  /** A few facts worth keeping (a mode, a limit): never free text, a secret or a token. */
  detail?: (request: FastifyRequest) => Record<string, unknown> | undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    audit?: RouteAudit;
  }
  interface FastifyInstance {
    /** Resolves once every audit write begun so far has finished (tests; close waits for them too). */
    auditSettled(): Promise<void>;
  }
}

export interface AuditOptions {
  ledger: Pick<LedgerRepository, 'recordAudit'>;
}

/** Longest id, tenant or action an audit entry keeps from a request (ids the API accepts are ≤ 128). */
const maxFieldLength = 128;
/** Longest error body read for its code. */
const maxErrorBodyLength = 64 * 1024;

/** A short string field of an object the client sent, or undefined. */
function field(source: unknown, name: string): string | undefined {
  const value = isObject(source) ? source[name] : undefined;
  return typeof value === 'string' && value.length > 0 && value.length <= maxFieldLength ? value : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a path parameter (for `target`, `tenant` or an action's choice). */
export const fromParams =
  (name: string) =>
  (request: FastifyRequest): string | undefined =>
    field(request.params, name);

/** Reads a body field (for `target`, `tenant` or an action's choice). */
export const fromBody =
  (name: string) =>
  (request: FastifyRequest): string | undefined =>
    field(request.body, name);

/**
 * The named body fields that are numbers, booleans, null or short strings, for `detail`: anything
 * else (objects, long text) is left out, so a detail stays short whatever the client sent.
 */
export const bodyFacts =
  (...names: string[]) =>
  (request: FastifyRequest): Record<string, unknown> | undefined => {
    const body = request.body;
    if (!isObject(body)) return undefined;
    const facts: Record<string, unknown> = {};
    for (const name of names) {
      const value = body[name];
      const short = typeof value === 'string' ? value.length <= maxFieldLength : true;
      if (short && (value === null || ['string', 'number', 'boolean'].includes(typeof value))) facts[name] = value;
    }
    return Object.keys(facts).length > 0 ? facts : undefined;
  };

/** `<prefix>.<choice>` when the choice is one of `choices`, else `<prefix>.<fallback>`. */
export function actionOf(
  prefix: string,
  choices: readonly string[],
  fallback: string,
  read: (request: FastifyRequest) => string | undefined,
): (request: FastifyRequest) => string {
  return (request) => {
    const choice = read(request);
    return `${prefix}.${choice !== undefined && choices.includes(choice) ? choice : fallback}`;
  };
}

/**
 * The audit log's one writer: after a route with `config.audit` has answered, records who (the
 * token's name and role, never the token), what, on which target, and the outcome read from the
 * status code (2xx succeeded, anything else refused with its status and error code). Requests
 * without a valid token are not recorded (the auth plugin logs them as security events), so
 * anonymous clients cannot grow the log. A failed write never fails the request: it is logged and
 * counted (`palyra_audit_write_failures_total`).
 */
export const auditPlugin = fp(
  async function audit(app: FastifyInstance, options: AuditOptions) {
    const writeFailures = new Counter({
      name: 'palyra_audit_write_failures_total',
      help: 'Audit entries that could not be written (the request itself was answered)',
      registers: [app.metrics],
    });
    const errorCodes = new WeakMap<FastifyRequest, string>();
    const inFlight = new Set<Promise<void>>();

    app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      if (request.routeOptions.config.audit && reply.statusCode >= 400) {
        const code = errorCodeOf(payload);
        if (code !== undefined) errorCodes.set(request, code);
      }
      return payload;
    });

    app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
      const rule = request.routeOptions.config.audit;
      if (!rule) return;
      const write = (async () => {
        let action = typeof rule.action === 'string' ? rule.action : undefined;
        try {
          const who = app.tokenHolderOf(request);
          if (!who) return;
          action ??= (rule.action as (request: FastifyRequest) => string)(request);
          const succeeded = reply.statusCode >= 200 && reply.statusCode < 300;
          const record: AuditRecord = {
            actor: who.tokenName,
            role: who.role,
            tenantId: rule.tenant?.(request) ?? null,
            action,
            target: rule.target?.(request) ?? null,
            outcome: succeeded ? 'succeeded' : 'refused',
            status: reply.statusCode,
            errorCode: succeeded ? null : (errorCodes.get(request) ?? null),
            detail: rule.detail?.(request) ?? null,
            requestId: request.id,
          };
          await options.ledger.recordAudit(record);
        } catch (error) {
          writeFailures.inc();
          request.log.error(
            { auditAction: action, route: request.routeOptions.url, error: (error as Error).message },
            'audit entry not recorded',
          );
        }
      })();
      inFlight.add(write);
      await write;
      inFlight.delete(write);
    });

    const settled = async () => {
      await Promise.all([...inFlight]);
    };
    app.decorate('auditSettled', settled);
    app.addHook('onClose', settled);
  },
  { name: 'palyra-audit', dependencies: ['palyra-metrics', 'palyra-auth'] },
);

function errorCodeOf(payload: unknown): string | undefined {
  const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : undefined;
  if (text === undefined || text.length > maxErrorBodyLength) return undefined;
  try {
    const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' && code.length <= maxFieldLength ? code : undefined;
  } catch {
    return undefined;
  }
}
