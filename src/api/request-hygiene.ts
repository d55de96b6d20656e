import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { ErrorBody } from './errors';

/**
 * What a request is allowed to bring before any route sees it (issue 14, item 8): its own request id
 * only when it is a safe token, a body only in UTF-8, and every refusal in the one error shape, even
 * those Node's HTTP parser makes before Fastify (431, a bad Content-Length).
 */

/** A client's `x-request-id` is kept only when it matches this; otherwise ours is generated. */
const safeRequestId = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdOf(request: IncomingMessage): string {
  const sent = request.headers['x-request-id'];
  return typeof sent === 'string' && safeRequestId.test(sent) ? sent : randomUUID();
}

/** Errors of Node's HTTP parser (before any route): answered on the socket in our shape. */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [status, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'request headers are too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request took too long to arrive']
        : [400, `malformed HTTP request (${error.code ?? 'parse error'})`];
  const body: ErrorBody = { error: { code: status === 431 ? 'payload_too_large' : 'validation_failed', message } };
  const json = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(json)}\r\nconnection: close\r\n\r\n${json}`,
  );
}

/** A JSON body in anything but UTF-8 would be read as garbage: 415 naming the charset instead. */
export function refuseNonUtf8Bodies(app: FastifyInstance, refuse: (charset: string) => Error): void {
  app.addHook('onRequest', async (request) => {
    const type = request.headers['content-type'];
    if (!type) return;
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(type)?.[1];
    if (charset && !/^utf-?8$/i.test(charset)) throw refuse(charset);
  });
}

/** Query parameters whose values are not written to logs. */
const secretQueryParameter = /token|key|secret|passw|sig|auth|cursor/i;

/** A URL for the logs: the values of secret-looking query parameters replaced. */
export function urlForLogs(url: string): string {
  const query = url.indexOf('?');
  if (query < 0) return url;
  const params = url
    .slice(query + 1)
    .split('&')
    .map((pair) => {
      const name = pair.split('=')[0] ?? '';
      return secretQueryParameter.test(decodeURIComponentSafe(name)) ? `${name}=[redacted]` : pair;
    });
  return `${url.slice(0, query)}?${params.join('&')}`;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
