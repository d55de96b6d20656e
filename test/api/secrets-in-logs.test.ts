import { setTimeout as delay } from 'node:timers/promises';
import { Writable } from 'node:stream';
import pino from 'pino';
import { buildServer } from '../../src/api/server';
import { loggerOptions } from '../../src/cli/logger';
import { openTestLedger, type TestLedger } from '../support/ledger';
import { composeTestServices, connectTestClient, testConfig } from '../support/temporal';
import type { Client, Connection } from '@temporalio/client';

/**
 * Known secrets in the config, every log line the API writes at trace level captured while it
 * answers diagnostics, a doctor job and requests with good and bad tokens: none of them appears.
 */
const secrets = {
  adminToken: 'logs-known-admin-token-5150',
  databasePassword: 'logs-known-db-password-5150',
  providerKey: 'sk-logs-known-provider-key-5150',
};
const keyEnv = 'PALYRA_LOGS_TEST_PROVIDER_KEY';

let client: Client;
let connection: Connection;
let ledger: TestLedger;
beforeAll(async () => {
  ({ client, connection } = await connectTestClient());
  ledger = await openTestLedger('sqlite');
  process.env[keyEnv] = secrets.providerKey;
});
afterAll(async () => {
  delete process.env[keyEnv];
  await ledger.close();
  await connection.close();
});

it('writes no configured secret to the logs', async () => {
  let captured = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      captured += chunk.toString();
      done();
    },
  });
  const config = testConfig({
    logLevel: 'trace',
    database: { url: `postgres://palyra:${secrets.databasePassword}@127.0.0.1:9/palyra` },
    auth: { tokens: [{ name: 'admin', token: secrets.adminToken, role: 'admin', tenants: ['*'] }] },
    providers: [
      { id: 'simulated', kind: 'simulated' },
      { id: 'vendor', kind: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1', apiKeyEnv: keyEnv },
    ],
  });
  // The production logger's options, writing here instead of to stdout.
  const logger = pino(loggerOptions(config, 'palyra-api'), sink);
  const app = await buildServer({
    config,
    logger,
    temporal: { client, connection, uiUrl: undefined },
    tokens: config.auth.tokens,
    ledger: ledger.repo,
    routePlanner: (await composeTestServices(config, ledger.repo)).routePlanner,
    version: 'test',
  });
  try {
    const auth = { authorization: `Bearer ${secrets.adminToken}` };
    expect((await app.inject({ method: 'GET', url: '/console/v1/diagnostics', headers: auth })).statusCode).toBe(200);
    const job = (
      await app.inject({ method: 'POST', url: '/console/v1/doctor/jobs', headers: auth, payload: { mode: 'repair_preview' } })
    ).json();
    for (let i = 0; i < 100; i++) {
      const read = (await app.inject({ method: 'GET', url: `/console/v1/doctor/jobs/${job.jobId}`, headers: auth })).json();
      if (read.state === 'succeeded' || read.state === 'failed') break;
      await delay(100);
    }
    await app.inject({ method: 'GET', url: '/v1/runs', headers: { authorization: `Bearer ${secrets.adminToken}x` } });
    await app.inject({ method: 'POST', url: '/v1/runs', headers: auth, payload: { broken: secrets.providerKey.length } });
  } finally {
    await app.close();
  }
  expect(captured.length).toBeGreaterThan(0);
  for (const secret of Object.values(secrets)) expect(captured).not.toContain(secret);
});
