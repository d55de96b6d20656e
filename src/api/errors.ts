import { isGrpcServiceError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PalyraError, type ErrorCode } from '../domain/errors';
import { LedgerConflictError, LedgerNotFoundError } from '../ledger/repository';
import { UnknownPriceError } from '../price-catalog/catalog';

/** The one place where error codes become HTTP statuses. */
export const httpStatusByCode: Record<ErrorCode, number> = {
  validation_failed: 400,
  unknown_model: 400,
  unknown_price: 422,
  budget_exceeded: 402,
  no_route: 422,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal_error: 500,
  temporal_unavailable: 503,
  not_ready: 503,
  tenant_paused: 503,
  overloaded: 503,
};

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .meta({ id: 'Error' });
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** Response schemas for the error statuses a route can answer with. */
export function errorResponses<const S extends number>(...statuses: S[]): Record<S, typeof errorBodySchema> {
  return Object.fromEntries(statuses.map((s) => [s, errorBodySchema])) as Record<S, typeof errorBodySchema>;
}

export function sendError(reply: FastifyReply, code: ErrorCode, message: string, details?: Record<string, unknown>) {
  const body: ErrorBody = { error: { code, message, ...(details ? { details } : {}) } };
  return reply.code(httpStatusByCode[code]).type('application/json').send(body);
}

/** Errors of the layers below the API, by class. */
const knownErrors: [new (...args: never[]) => Error, ErrorCode][] = [
  [LedgerConflictError, 'conflict'],
  [LedgerNotFoundError, 'not_found'],
  [UnknownPriceError, 'unknown_price'],
];

/** Fastify's own client errors, by their codes. */
const fastifyClientErrors: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'validation_failed',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'validation_failed',
  FST_ERR_CTP_INVALID_JSON_BODY: 'validation_failed',
};

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const issues = error.validation.map((issue) => ({
        field: fieldName(error.validationContext, issue.instancePath),
        message: issue.message ?? 'invalid value',
      }));
      const summary = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
      return sendError(reply, 'validation_failed', `invalid request: ${summary}`, { issues });
    }
    if (error instanceof PalyraError) {
      // An error that knows when trying again makes sense (a paused tenant) says so the standard way
      // too; Temporal being short of time or capacity always does.
      const retryAfter =
        error.details?.retryAfterSeconds ?? (error.code === 'temporal_unavailable' ? temporalRetryAfterSeconds : undefined);
      if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
      return sendError(reply, error.code, error.message, error.details);
    }
    const known = knownErrors.find(([type]) => error instanceof type);
    if (known) return sendError(reply, known[1], error.message);
    const clientCode = error.code ? fastifyClientErrors[error.code] : undefined;
    if (clientCode) return sendError(reply, clientCode, error.message);
    if (error.statusCode === 429) return sendError(reply, 'rate_limited', error.message);
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      // Any other client error Fastify raises (bad URL encoding, bad headers…) keeps our one shape.
      return reply
        .code(error.statusCode)
        .send({ error: { code: 'validation_failed', message: error.message } } satisfies ErrorBody);
    }
    if (error instanceof SyntaxError && error.statusCode === 400) {
      return sendError(reply, 'validation_failed', `request body is not valid JSON: ${error.message}`);
    }
    const overload = temporalOverloadOf(error);
    if (overload) {
      request.log.warn({ err: error, reason: overload }, 'Temporal unavailable');
      reply.header('retry-after', String(temporalRetryAfterSeconds));
      return sendError(reply, 'temporal_unavailable', `Temporal did not answer in time (${overload}); retry shortly`, {
        reason: overload,
        retryAfterSeconds: temporalRetryAfterSeconds,
      });
    }
    if (isResponseSerializationError(error)) {
      request.log.error({ err: error, issues: error.cause.issues }, 'response did not match its schema');
    } else {
      request.log.error({ err: error }, 'unhandled error');
    }
    // 5xx details stay in the log; the client gets a request id to quote.
    return sendError(reply, 'internal_error', `internal error (request ${request.id})`);
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`),
  );
}

/** What a 503 `temporal_unavailable` asks the client to wait before trying again. */
export const temporalRetryAfterSeconds = 2;

/** Why a Temporal call failed for want of time or capacity rather than for what it asked. */
export type TemporalOverload = 'deadline_exceeded' | 'cancelled' | 'resource_exhausted' | 'unavailable';

/** gRPC status codes (`@grpc/grpc-js` `status`) that say the server was short of time or capacity. */
const overloadByGrpcCode: Readonly<Record<number, TemporalOverload>> = {
  1: 'cancelled',
  4: 'deadline_exceeded',
  8: 'resource_exhausted',
  14: 'unavailable',
};

/**
 * The overload behind a Temporal client error, or undefined for any other error. The client wraps
 * gRPC errors once or twice (`ServiceError`, `WorkflowUpdateRPCTimeoutOrCancelledError`, both with
 * the gRPC error as `cause`), so the whole cause chain is read. An update call cancelled without a
 * gRPC status (its cause a `CancelledFailure`) is `cancelled`. The client has no connection or
 * transport error classes of its own (`TransportError` belongs to the worker's native connection):
 * an unreachable server is UNAVAILABLE, retried by the client until the deadline.
 */
export function temporalOverloadOf(error: unknown): TemporalOverload | undefined {
  let updateCallCut = false;
  for (let cause = error, depth = 0; cause instanceof Error && depth < 10; cause = cause.cause, depth++) {
    if (isGrpcServiceError(cause) && overloadByGrpcCode[cause.code]) return overloadByGrpcCode[cause.code];
    if (cause instanceof WorkflowUpdateRPCTimeoutOrCancelledError) updateCallCut = true;
  }
  return updateCallCut ? 'cancelled' : undefined;
}

function fieldName(context: string | undefined, instancePath: string): string {
  const path = instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
  const prefix = context ?? 'body';
  return path ? `${prefix}.${path}` : prefix;
}
