import { connect } from 'node:net';
import { Writable } from 'node:stream';
import type { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildServer } from '../../src/api/server';
import { loggerOptions } from '../../src/cli/logger';
import { testTokens } from '../support/app';
import { openTestLedger, type TestLedger } from '../support/ledger';
import { composeTestServices, connectTestClient, testConfig } from '../support/temporal';

/**
 * What a request may bring before any route sees it, over real HTTP: one error shape even for
 * Node's own refusals, UTF-8 bodies only, a client's request id only when it is safe, no secret query
 * value in the logs, and a readiness probe that cannot multiply calls to Temporal and the ledger.
 */
let client: Client;
let connection: Connection;
let ledger: TestLedger;
let app: FastifyInstance;
let base: string;
let port: number;
let logs = '';
let pings = 0;

beforeAll(async () => {
  ({ client, connection } = await connectTestClient());
  ledger = await openTestLedger('sqlite');
  const config = testConfig({ logLevel: 'info' });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs += chunk.toString();
      done();
    },
  });
  const counted = new Proxy(ledger.repo, {
    get(target, property, receiver) {
      if (property === 'ping') {
        return async () => {
          pings++;
          return target.ping();
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
  app = await buildServer({
    config,
    logger: pino(loggerOptions(config, 'palyra-api'), sink),
    temporal: { client, connection, uiUrl: undefined },
    tokens: [{ name: 'admin', token: testTokens.admin, role: 'admin', tenants: ['*'] }],
    ledger: counted,
    routePlanner: (await composeTestServices(config, ledger.repo)).routePlanner,
    version: 'test',
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await app?.close();
  await ledger.close();
  await connection.close();
});

/** Sends raw bytes and answers the status line and the body. */
function raw(request: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let data = '';
    socket.on('data', (chunk) => (data += chunk.toString()));
    socket.on('end', () => resolve({ status: Number(data.split(' ')[1]), body: data.split('\r\n\r\n')[1] ?? '' }));
    socket.on('error', reject);
  });
}

const auth = { authorization: `Bearer ${testTokens.admin}` };

describe('request hygiene over HTTP', () => {
  it('answers Node’s own refusals in the one error shape: 431 for huge headers, 400 for a bad Content-Length', async () => {
    const huge = await fetch(`${base}/healthz`, { headers: { 'x-filler': 'x'.repeat(20_000) } });
    expect(huge.status).toBe(431);
    expect(await huge.json()).toEqual({ error: { code: 'payload_too_large', message: 'request headers are too large' } });
    const bad = await raw('POST /v1/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({
      error: { code: 'validation_failed', message: expect.stringContaining('malformed HTTP request') },
    });
  });

  it('refuses a JSON body in another charset with 415 naming it', async () => {
    const response = await fetch(`${base}/v1/routing/plan`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json; charset=utf-16' },
      body: JSON.stringify({ tenantId: 'acme', principalId: 'p', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(415);
    expect(((await response.json()) as { error: unknown }).error).toEqual({
      code: 'unsupported_media_type',
      message: 'request bodies must be UTF-8 JSON; got charset utf-16',
    });
    const utf8 = await fetch(`${base}/v1/routing/plan`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json; charset=UTF-8' },
      body: JSON.stringify({ tenantId: 'acme', principalId: 'p', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(utf8.status).toBe(200);
  });

  it('keeps a safe client request id, replaces an unsafe one, and logs no secret query value', async () => {
    await fetch(`${base}/v1/runs?limit=1`, { headers: { ...auth, 'x-request-id': 'checkout-42.a:b' } });
    await fetch(`${base}/v1/runs?limit=1`, { headers: { ...auth, 'x-request-id': 'evil" injected=1 <script>' } });
    await fetch(`${base}/v1/runs?limit=1&token=query-secret-123&cursor=abc`, { headers: auth });
    const lines = logs.split('\n').filter((line) => line.includes('"req"'));
    const ids = lines.map((line) => JSON.parse(line).reqId as string);
    expect(ids).toContain('checkout-42.a:b');
    expect(logs).not.toContain('injected');
    expect(logs).not.toContain('query-secret-123');
    expect(logs).toContain('token=[redacted]');
  });

  it('answers readiness probes from one check a second', async () => {
    const before = pings;
    await Promise.all(Array.from({ length: 20 }, () => fetch(`${base}/readyz`)));
    expect(pings - before).toBe(1);
  });
});
