/**
 * The closed set of error codes Palyra answers with. Each maps to one HTTP status in
 * `src/api/errors.ts`; everything else is an `internal_error` whose message never leaves the server.
 */
export const errorCodes = [
  'validation_failed',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'unknown_model',
  'unknown_price',
  'budget_exceeded',
  'no_route',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
  'temporal_unavailable',
  'not_ready',
  'tenant_paused',
  'overloaded',
  'internal_error',
] as const;
export type ErrorCode = (typeof errorCodes)[number];

export class PalyraError extends Error {
  override readonly name = 'PalyraError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}
