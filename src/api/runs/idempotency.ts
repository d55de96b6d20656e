import { createHash } from 'node:crypto';
import { PalyraError } from '../../domain/errors';
import type { StartRunBody } from './schemas';

/** Memo key of the digest of a run's parameters, compared when an idempotency key is reused. */
export const requestDigestMemoKey = 'requestDigest';

/** The digest of what a start asks for, apart from who asks (the tenant) and the key itself. */
export function requestDigest(body: StartRunBody): string {
  const { tenantId: _tenant, idempotencyKey: _key, ...parameters } = body;
  return createHash('sha256').update(canonicalJson(parameters)).digest('hex');
}

/** A UUID (version 8, name-based) from the tenant and its idempotency key. */
export function idempotentRunId(tenantId: string, idempotencyKey: string): string {
  const bytes = createHash('sha256').update(`${tenantId}\u0000${idempotencyKey}`).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Refuses (409) a reused idempotency key whose run was started with other parameters: the memo of
 * that run holds the digest of the request that started it.
 */
export function assertSameRequest(memo: Record<string, unknown> | undefined, digest: string, runId: string): void {
  if (memo?.[requestDigestMemoKey] !== digest) {
    throw new PalyraError('conflict', `idempotencyKey was already used for run ${runId} with different parameters`, {
      field: 'body.idempotencyKey',
      runId,
    });
  }
}

/** JSON with sorted keys, so the same parameters in another key order have the same digest. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
