import type { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { budgetRefusalError } from '../../src/api/budgets/refusal';
import { bearer, buildTestApp, testTokens } from '../support/app';
import { openTestLedger, type TestLedger } from '../support/ledger';
import { connectTestClient } from '../support/temporal';

let client: Client;
let connection: Connection;
let ledger: TestLedger;
let app: FastifyInstance;

beforeAll(async () => {
  ({ client, connection } = await connectTestClient());
});
afterAll(() => connection.close());

beforeEach(async () => {
  ledger = await openTestLedger('sqlite');
  await ledger.repo.syncConfigPolicies([
    {
      policyId: 'config-global',
      scope: { kind: 'global' },
      metric: 'tokens',
      window: 'month',
      hardLimit: 1_000_000,
      action: 'block',
      enabled: true,
    },
  ]);
  ({ app } = await buildTestApp({ client, connection, ledger: ledger.repo }));
});
afterEach(async () => {
  await app.close();
  await ledger.close();
});

const acmeDaily = {
  scope: { kind: 'tenant', id: 'acme' },
  metric: 'cost',
  window: 'day',
  softLimit: 4_000_000,
  hardLimit: 5_000_000,
  action: 'block',
};

function put(policyId: string, body: unknown, token = testTokens.admin) {
  return app.inject({ method: 'PUT', url: `/v1/budgets/policies/${policyId}`, headers: bearer(token), payload: body as object });
}

describe('budget policies API', () => {
  it('creates (201), replaces (200), reads, lists and deletes (204) a policy', async () => {
    const created = await put('acme-daily', acmeDaily);
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ policyId: 'acme-daily', ...acmeDaily, enabled: true, source: 'api' });
    expect((await put('acme-daily', { ...acmeDaily, hardLimit: 6_000_000 })).statusCode).toBe(200);

    const fetched = await app.inject({
      method: 'GET',
      url: '/v1/budgets/policies/acme-daily',
      headers: bearer(testTokens.operator),
    });
    expect(fetched.json().hardLimit).toBe(6_000_000);
    const list = await app.inject({ method: 'GET', url: '/v1/budgets/policies', headers: bearer(testTokens.operator) });
    expect(list.json().items.map((p: { policyId: string; source: string }) => [p.policyId, p.source])).toEqual([
      ['acme-daily', 'api'],
      ['config-global', 'config'],
    ]);

    expect(
      (await app.inject({ method: 'DELETE', url: '/v1/budgets/policies/acme-daily', headers: bearer(testTokens.admin) }))
        .statusCode,
    ).toBe(204);
    expect(
      (await app.inject({ method: 'GET', url: '/v1/budgets/policies/acme-daily', headers: bearer(testTokens.admin) })).statusCode,
    ).toBe(404);
  });

  it.each([
    ['a negative limit', { ...acmeDaily, hardLimit: -1 }, 'body.hardLimit'],
    ['an unknown scope kind', { ...acmeDaily, scope: { kind: 'team', id: 'x' } }, 'body.scope.kind'],
    ['a soft limit above the hard limit', { ...acmeDaily, softLimit: 9_000_000 }, 'body.softLimit'],
    ['a tenant scope without an id', { ...acmeDaily, scope: { kind: 'tenant' } }, 'body.scope.id'],
    ['a fractional limit', { ...acmeDaily, hardLimit: 1.5 }, 'body.hardLimit'],
    ['an unknown window', { ...acmeDaily, window: 'hour' }, 'body.window'],
  ])('refuses %s with a 400 naming the field', async (_case, body, field) => {
    const response = await put('bad', body);
    expect(response.statusCode).toBe(400);
    expect(response.json().error.details.issues.map((i: { field: string }) => i.field)).toContain(field);
    expect(
      (await app.inject({ method: 'GET', url: '/v1/budgets/policies/bad', headers: bearer(testTokens.admin) })).statusCode,
    ).toBe(404);
  });

  it('refuses to change or delete a config-declared policy (409)', async () => {
    const changed = await put('config-global', { scope: { kind: 'global' }, metric: 'tokens', window: 'month', hardLimit: 1 });
    expect(changed.statusCode).toBe(409);
    expect(changed.json().error).toEqual({
      code: 'conflict',
      message: "policy 'config-global' is declared in the config file; change it there",
    });
    expect(
      (await app.inject({ method: 'DELETE', url: '/v1/budgets/policies/config-global', headers: bearer(testTokens.admin) }))
        .statusCode,
    ).toBe(409);
  });

  it('needs the admin role to write and operator to read', async () => {
    expect((await put('x', acmeDaily, testTokens.operator)).statusCode).toBe(403);
    expect(
      (await app.inject({ method: 'GET', url: '/v1/budgets/policies', headers: bearer(testTokens.acmeService) })).statusCode,
    ).toBe(403);
  });

  it('keeps a tenant-scoped admin to its own tenants', async () => {
    expect((await put('acme-own', acmeDaily, testTokens.acmeAdmin)).statusCode).toBe(201);
    const foreign = await put('globex', { ...acmeDaily, scope: { kind: 'tenant', id: 'globex' } }, testTokens.acmeAdmin);
    expect(foreign.statusCode).toBe(403);
    const global = await put('everyone', { ...acmeDaily, scope: { kind: 'global' } }, testTokens.acmeAdmin);
    expect(global.statusCode).toBe(403);
    const list = await app.inject({ method: 'GET', url: '/v1/budgets/policies', headers: bearer(testTokens.acmeAdmin) });
    expect(list.json().items.map((p: { policyId: string }) => p.policyId)).toEqual(['acme-own']);
    expect(
      (await app.inject({ method: 'GET', url: '/v1/budgets/policies/config-global', headers: bearer(testTokens.acmeAdmin) }))
        .statusCode,
    ).toBe(404);
  });
});

describe('budget usage API', () => {
  it('reports spent, reserved, limit, utilization, status and alerts per window, with micro-USD fields for cost', async () => {
    await put('acme-daily', { ...acmeDaily, softLimit: 600, hardLimit: 1_000 });
    const reservation = {
      reservationId: 'r1',
      runId: 'run-1',
      scope: { tenantId: 'acme', principalId: 'svc', modelId: 'sim-standard' },
      inputTokens: 100,
      maxOutputTokens: 50,
      price: { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 },
      catalogVersion: 'v',
      expiresAt: new Date(Date.now() + 60_000),
    };
    await ledger.repo.reserve(reservation);
    await ledger.repo.settle({ reservationId: 'r1', actual: { inputTokens: 100, outputTokens: 40 } }); // 650 µUSD
    await ledger.repo.reserve({ ...reservation, reservationId: 'r2', runId: 'run-2', maxOutputTokens: 10 }); // 350 µUSD

    const response = await app.inject({ method: 'GET', url: '/v1/budgets/usage', headers: bearer(testTokens.operator) });
    expect(response.statusCode).toBe(200);
    const acme = response.json().policies.find((p: { policyId: string }) => p.policyId === 'acme-daily');
    expect(acme).toMatchObject({
      metric: 'cost',
      window: 'day',
      periodKey: new Date().toISOString().slice(0, 10),
      spent: 650,
      reserved: 350,
      limit: 1_000,
      spentMicroUsd: 650,
      reservedMicroUsd: 350,
      limitMicroUsd: 1_000,
      utilization: 1,
      status: 'hard_limit',
    });
    expect(acme.alerts.map((a: { threshold: string }) => a.threshold).sort()).toEqual(['hard', 'pct80', 'pct95', 'soft']);
    const tokens = response.json().policies.find((p: { policyId: string }) => p.policyId === 'config-global');
    expect(tokens.spentMicroUsd).toBeUndefined();
    expect(tokens).toMatchObject({ metric: 'tokens', spent: 140, reserved: 110, status: 'ok' });
    await ledger.repo.release('r2');
  });

  it('shows another window with ?at and refuses a malformed one', async () => {
    await put('acme-daily', acmeDaily);
    const yesterday = await app.inject({
      method: 'GET',
      url: '/v1/budgets/usage?at=2026-01-01T12:00:00Z',
      headers: bearer(testTokens.operator),
    });
    expect(yesterday.json().policies.find((p: { policyId: string }) => p.policyId === 'acme-daily').periodKey).toBe('2026-01-01');
    const bad = await app.inject({ method: 'GET', url: '/v1/budgets/usage?at=yesterday', headers: bearer(testTokens.operator) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.issues[0].field).toBe('querystring.at');
  });
});

describe('budget refusals', () => {
  it('answer 402 with the policy, window and numbers', async () => {
    await put('tiny', { ...acmeDaily, softLimit: undefined, hardLimit: 100 });
    const outcome = await ledger.repo.reserve({
      reservationId: 'r-refused',
      runId: 'run-refused',
      scope: { tenantId: 'acme', principalId: 'svc', modelId: 'sim-standard' },
      inputTokens: 100,
      maxOutputTokens: 50,
      price: { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 },
      catalogVersion: 'v',
      expiresAt: new Date(Date.now() + 60_000),
    });
    if (outcome.status !== 'refused') throw new Error('expected a refusal');
    // Runs answer with this error once admission is wired in; a probe route shows the wire shape.
    const { app: probe } = await buildTestApp({ client, connection, ledger: ledger.repo });
    probe.get('/v1/probe/refusal', async () => {
      throw budgetRefusalError(outcome.refusal);
    });
    try {
      const response = await probe.inject({ method: 'GET', url: '/v1/probe/refusal', headers: bearer(testTokens.admin) });
      expect(response.statusCode).toBe(402);
      expect(response.json()).toEqual({
        error: {
          code: 'budget_exceeded',
          message: outcome.refusal.message,
          details: {
            policyId: 'tiny',
            window: 'day',
            periodKey: new Date().toISOString().slice(0, 10),
            metric: 'cost',
            action: 'block',
            spentMicroUsd: 0,
            reservedMicroUsd: 0,
            limitMicroUsd: 100,
            requestedMicroUsd: 750,
          },
        },
      });
    } finally {
      await probe.close();
    }
  });
});

describe('pricing API', () => {
  it('lists every configured model with its price, source and the catalog version', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/pricing/models', headers: bearer(testTokens.operator) });
    expect(response.statusCode).toBe(200);
    const { catalogVersion, items } = response.json();
    expect(catalogVersion).toMatch(/^genai-prices@0\.1\.8\+cfg\.[0-9a-f]{8}\+ovr\.0$/);
    expect(items.find((m: { modelId: string }) => m.modelId === 'sim-small')).toEqual({
      modelId: 'sim-small',
      provider: 'simulated',
      inputMicroUsdPerMTok: 150_000,
      outputMicroUsdPerMTok: 600_000,
      inputPerMTokUsd: 0.15,
      outputPerMTokUsd: 0.6,
      source: 'config',
      catalogVersion,
    });
  });

  it('applies an override, changes the catalog version, and prices a public model from the bundled catalog', async () => {
    const before = (await app.inject({ method: 'GET', url: '/v1/pricing/models', headers: bearer(testTokens.operator) })).json()
      .catalogVersion;
    const override = await app.inject({
      method: 'PUT',
      url: '/v1/pricing/overrides/sim-small',
      headers: bearer(testTokens.admin),
      payload: { inputPerMTokUsd: 0.2, outputPerMTokUsd: 0.8 },
    });
    expect(override.statusCode).toBe(200);
    expect(override.json()).toMatchObject({
      modelId: 'sim-small',
      inputMicroUsdPerMTok: 200_000,
      outputMicroUsdPerMTok: 800_000,
      source: 'override',
    });
    expect(override.json().catalogVersion).not.toBe(before);
    expect(override.json().catalogVersion).toMatch(/\+ovr\.1$/);

    const bad = await app.inject({
      method: 'PUT',
      url: '/v1/pricing/overrides/sim-small',
      headers: bearer(testTokens.admin),
      payload: { inputPerMTokUsd: -1, outputPerMTokUsd: 1 },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.details.issues[0].field).toBe('body.inputPerMTokUsd');
    expect(
      (
        await app.inject({
          method: 'PUT',
          url: '/v1/pricing/overrides/sim-small',
          headers: bearer(testTokens.operator),
          payload: { inputPerMTokUsd: 1, outputPerMTokUsd: 1 },
        })
      ).statusCode,
    ).toBe(403);
  });
});
