import { createHash } from 'node:crypto';
import { PalyraError } from '../../domain/errors';

/**
 * A list cursor: Temporal's page token bound to the query it pages through, so a cursor that was
 * altered or belongs to other filters is a 400 naming it, not an error from deep in Temporal.
 */
export function encodeCursor(pageToken: Uint8Array, query: string): string {
  return Buffer.from(JSON.stringify({ q: queryDigest(query), t: Buffer.from(pageToken).toString('base64') })).toString(
    'base64url',
  );
}

/** The page token of a cursor that `encodeCursor` made for this very query; a 400 otherwise. */
export function decodeCursor(cursor: string, query: string): Buffer {
  const invalid = () =>
    new PalyraError('validation_failed', 'query.cursor is not a cursor this API returned for these filters', {
      field: 'query.cursor',
    });
  let parsed: { q?: unknown; t?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { q?: unknown; t?: unknown };
  } catch {
    throw invalid();
  }
  if (parsed.q !== queryDigest(query) || typeof parsed.t !== 'string' || parsed.t.length === 0) throw invalid();
  return Buffer.from(parsed.t, 'base64');
}

const queryDigest = (query: string) => createHash('sha256').update(query).digest('hex').slice(0, 16);
