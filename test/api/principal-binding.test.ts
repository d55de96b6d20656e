import type { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server';
import { openTestLedger, type TestLedger } from '../support/ledger';
import { composeTestServices, connectTestClient, testConfig } from '../support/temporal';

/**
 * A token bound to principals (`auth.tokens[].principals`) cannot name another principal, so a
 * principal's approval_required budget is not sidestepped by sending another principalId.
 */
const boundToken = 'bound-service-token-0123456789';
const freeToken = 'free-service-token-0123456789';

let client: Client;
let connection: Connection;
let ledger: TestLedger;
let app: FastifyInstance;
beforeAll(async () => {
  ({ client, connection } = await connectTestClient());
  ledger = await openTestLedger('sqlite');
  const config = testConfig({
    auth: {
      tokens: [
        { name: 'checkout', token: boundToken, role: 'service', tenants: ['acme'], principals: ['svc-checkout', 'batch-*'] },
        { name: 'anything', token: freeToken, role: 'service', tenants: ['acme'] },
      ],
    },
  });
  app = await buildServer({
    config,
    logger: false,
    temporal: { client, connection, uiUrl: undefined },
    tokens: config.auth.tokens,
    ledger: ledger.repo,
    routePlanner: (await composeTestServices(config, ledger.repo)).routePlanner,
    version: 'test',
  });
});
afterAll(async () => {
  await app?.close();
  await ledger.close();
  await connection.close();
});

const body = (principalId: string) => ({ tenantId: 'acme', principalId, messages: [{ role: 'user', content: 'hi' }] });
const plan = (token: string, principalId: string) =>
  app.inject({
    method: 'POST',
    url: '/v1/routing/plan',
    headers: { authorization: `Bearer ${token}` },
    payload: body(principalId),
  });

it('lets a bound token act only as its principals (patterns allowed), on plans and on runs', async () => {
  expect((await plan(boundToken, 'svc-checkout')).statusCode).toBe(200);
  expect((await plan(boundToken, 'batch-nightly')).statusCode).toBe(200);
  const refused = await plan(boundToken, 'svc-other');
  expect(refused.statusCode).toBe(403);
  expect(refused.json().error.message).toBe(
    "token 'checkout' is bound to principal(s) svc-checkout, batch-*; it may not act as 'svc-other'",
  );
  const run = await app.inject({
    method: 'POST',
    url: '/v1/runs',
    headers: { authorization: `Bearer ${boundToken}` },
    payload: { ...body('batch.x'), model: 'sim-standard' },
  });
  // `*` is the only wildcard: `batch.x` does not match `batch-*`.
  expect(run.statusCode).toBe(403);
  // An unbound token may name any principal.
  expect((await plan(freeToken, 'svc-other')).statusCode).toBe(200);
});
