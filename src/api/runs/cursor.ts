import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { AuthTokenConfig } from '../../config';
import { PalyraError } from '../../domain/errors';

/**
 * List cursors: Temporal's page token bound to the query it pages through and authenticated with an
 * HMAC, so a cursor that was forged, altered or made for other filters is a 400 naming `cursor`
 * before anything reaches Temporal (a crafted page token there cost a 15 s wait and a 503).
 */
export interface CursorCodec {
  encode(pageToken: Uint8Array, query: string): string;
  /** The page token of a cursor this installation made for this very query; a 400 otherwise. */
  decode(cursor: string, query: string): Buffer;
}

/**
 * The key every API process of an installation derives alike, from the auth tokens they all share
 * (their hashes, never sent anywhere): no extra secret to distribute. Rotating a token invalidates
 * open cursors; a client then lists from the start again.
 */
export function cursorKeyOf(tokens: readonly AuthTokenConfig[]): Buffer {
  const hashes = tokens
    .map(
      (token) =>
        token.sha256 ??
        createHash('sha256')
          .update(token.token as string)
          .digest('hex'),
    )
    .sort();
  return createHash('sha256')
    .update(`palyra-list-cursor-v1\n${hashes.join('\n')}`)
    .digest();
}

export function createCursorCodec(key: Buffer): CursorCodec {
  const mac = (query: string, token: string) => createHmac('sha256', key).update(`${query}\n${token}`).digest().subarray(0, 16);
  const invalid = () =>
    new PalyraError('validation_failed', 'query.cursor is not a cursor this API returned for these filters', {
      field: 'query.cursor',
    });
  return {
    encode(pageToken, query) {
      const token = Buffer.from(pageToken).toString('base64');
      return Buffer.from(JSON.stringify({ t: token, m: mac(query, token).toString('base64url') })).toString('base64url');
    },
    decode(cursor, query) {
      let parsed: { t?: unknown; m?: unknown };
      try {
        parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { t?: unknown; m?: unknown };
      } catch {
        throw invalid();
      }
      if (typeof parsed.t !== 'string' || parsed.t.length === 0 || typeof parsed.m !== 'string') throw invalid();
      const given = Buffer.from(parsed.m, 'base64url');
      const expected = mac(query, parsed.t);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
      return Buffer.from(parsed.t, 'base64');
    },
  };
}
