import { Connection, type Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { PalyraConfig, PalyraConfigInput } from '../../src/config';
import { simulatedText } from '../../src/domain/simulated-stream';
import { delay } from '../../src/util/time';
import { bearer, buildTestApp, testTokens } from '../support/app';
import { openTestLedger, type TestLedger } from '../support/ledger';
import { connectTestClient, withTestWorker } from '../support/temporal';

const tokens = testTokens;

let client: Client;
let connection: Connection;
let ledger: TestLedger;

beforeAll(async () => {
  ({ client, connection } = await connectTestClient());
  ledger = await openTestLedger('sqlite');
});
afterAll(async () => {
  await connection.close();
  await ledger.close();
});

/** A worker that books into the same ledger as the app under test. */
function withAppWorker<T>(config: PalyraConfig, fn: () => Promise<T>): Promise<T> {
  return withTestWorker(config, fn, ledger.repo);
}

function buildApp(config: PalyraConfigInput = {}, temporalConnection: Connection = connection) {
  return buildTestApp({ client, connection: temporalConnection, ledger: ledger.repo, config });
}

const runBody = (overrides: Record<string, unknown> = {}) => ({
  tenantId: 'acme',
  principalId: 'svc-checkout',
  messages: [{ role: 'user', content: 'write a haiku about budgets' }],
  simulation: { outputTokens: 8, chunkDelayMs: 5 },
  ...overrides,
});

function startRun(app: FastifyInstance, token = tokens.acmeService, body = runBody()) {
  return app.inject({ method: 'POST', url: '/v1/runs', headers: bearer(token), payload: body });
}

async function waitForState(app: FastifyInstance, runId: string, token: string, states: string[]) {
  for (let i = 0; i < 200; i++) {
    const response = await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: bearer(token) });
    if (states.includes(response.json().state)) return response;
    await delay(50);
  }
  throw new Error(`run ${runId} never reached ${states.join('|')}`);
}

describe('API', () => {
  let app: FastifyInstance;
  let config: PalyraConfig;
  beforeAll(async () => {
    ({ app, config } = await buildApp());
  });
  afterAll(() => app.close());

  it('answers /healthz without a token', async () => {
    const response = await app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('is not ready while no worker polls its task queue, and ready once one does', async () => {
    const notReady = await app.inject({ method: 'GET', url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json().checks.temporal.ok).toBe(true);
    expect(notReady.json().checks.ledger).toEqual({ ok: true, message: 'ledger answering' });
    expect(notReady.json().checks.workers).toEqual({
      ok: false,
      message: expect.stringContaining(`no worker is polling task queue '${config.temporal.taskQueue}'`),
    });

    await withAppWorker(config, async () => {
      let ready = await app.inject({ method: 'GET', url: '/readyz' });
      for (let i = 0; i < 50 && ready.statusCode !== 200; i++) {
        await delay(100);
        ready = await app.inject({ method: 'GET', url: '/readyz' });
      }
      expect(ready.statusCode).toBe(200);
      expect(ready.json().ready).toBe(true);
    });
  });

  it('reports Temporal as the failing part when it cannot be reached', async () => {
    const deadConnection = Connection.lazy({ address: '127.0.0.1:1' });
    const { app: isolated } = await buildApp({}, deadConnection);
    try {
      const response = await isolated.inject({ method: 'GET', url: '/readyz' });
      expect(response.statusCode).toBe(503);
      expect(response.json().checks.temporal).toEqual({ ok: false, message: expect.stringMatching(/^Temporal unreachable/) });
    } finally {
      await isolated.close();
      await deadConnection.close();
    }
  });

  it('runs a request end to end and links it to the Temporal UI', async () => {
    await withAppWorker(config, async () => {
      const started = await startRun(app);
      expect(started.statusCode).toBe(202);
      const { runId, temporal } = started.json();
      expect(started.json()).toMatchObject({
        state: 'queued',
        model: { requested: null, selected: 'sim-standard' },
        maxOutputTokens: 8192,
      });
      expect(temporal.workflowId).toBe(`run-${runId}`);
      expect(temporal.uiUrl).toBe(
        `http://temporal-ui.test:8233/namespaces/default/workflows/run-${runId}/${temporal.runId}/history`,
      );

      const done = await waitForState(app, runId, tokens.acmeService, ['succeeded', 'failed']);
      expect(done.json()).toMatchObject({
        runId,
        tenantId: 'acme',
        principalId: 'svc-checkout',
        state: 'succeeded',
        output: simulatedText(runId, 8),
        usage: { outputTokens: 8, estimated: false },
        backgroundTasks: [],
        temporal: { workflowId: `run-${runId}` },
      });
      expect(done.json().finishedAt).toEqual(expect.any(String));

      const description = await client.workflow.getHandle(`run-${runId}`).describe();
      expect(await description.staticSummary()).toBe('Run for acme/svc-checkout on sim-standard');
    });
  });

  it('hides another tenant’s run (404) but shows it to an admin', async () => {
    await withAppWorker(config, async () => {
      const started = await startRun(app);
      const { runId } = started.json();
      const asGlobex = await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: bearer(tokens.globexService) });
      expect(asGlobex.statusCode).toBe(404);
      expect(asGlobex.json()).toEqual({ error: { code: 'not_found', message: `run ${runId} not found` } });
      const asAdmin = await waitForState(app, runId, tokens.admin, ['succeeded']);
      expect(asAdmin.statusCode).toBe(200);
    });
  });

  it.each([
    ['decides admission itself', 'in_process', { status: 'admitted' }],
    ['leaves admission to the workflow', 'workflow', undefined],
  ] as const)(
    'shows a run as queued right away, before any worker has picked it up, when the API %s',
    async (_case, admission, decided) => {
      const { app: impatient } = await buildTestApp({
        client,
        connection,
        ledger: ledger.repo,
        config: { runs: { admissionWaitMs: 500 } },
        admission,
      });
      const started = await startRun(impatient).finally(() => impatient.close());
      expect(started.statusCode).toBe(202);
      expect(started.json()).toMatchObject({ state: 'queued', maxOutputTokens: 8192 });
      // Decided by this process at once, or not yet by anyone (no worker).
      if (decided) expect(started.json().admission).toMatchObject(decided);
      else expect(started.json().admission).toBeUndefined();
      const { runId } = started.json();
      const response = await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: bearer(tokens.acmeService) });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ runId, state: 'queued', tenantId: 'acme', usage: null, costMicroUsd: 0 });

      await client.workflow.getHandle(`run-${runId}`).terminate('no worker on this task queue');
      const terminated = await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: bearer(tokens.acmeService) });
      expect(terminated.json()).toMatchObject({
        state: 'failed',
        error: { code: 'terminated', message: 'the run workflow was terminated by an operator' },
      });
    },
  );

  it('answers 404 for a run that does not exist', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/v1/runs/00000000-0000-4000-8000-000000000000',
      headers: bearer(tokens.admin),
    });
    expect(response.statusCode).toBe(404);
    expect(response.json().error.code).toBe('not_found');
  });

  describe('authentication and authorization', () => {
    it('rejects a request without a token (401)', async () => {
      const response = await app.inject({ method: 'POST', url: '/v1/runs', payload: runBody() });
      expect(response.statusCode).toBe(401);
      expect(response.json()).toEqual({
        error: { code: 'unauthorized', message: expect.stringContaining('missing bearer token') },
      });
    });

    it('rejects an unknown token (401)', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/runs',
        headers: bearer('not-a-real-token-at-all'),
        payload: runBody(),
      });
      expect(response.statusCode).toBe(401);
      expect(response.json().error.message).toBe('invalid bearer token');
    });

    it('treats a route without an access rule as admin-only, and names the role it needs (403)', async () => {
      const { app: isolated } = await buildApp();
      isolated.get('/v1/internal-probe', async () => ({ ok: true }));
      try {
        const asService = await isolated.inject({
          method: 'GET',
          url: '/v1/internal-probe',
          headers: bearer(tokens.acmeService),
        });
        expect(asService.statusCode).toBe(403);
        expect(asService.json().error.message).toBe("token 'acme-svc' has role 'service'; this route needs 'admin' or higher");
        const asAdmin = await isolated.inject({ method: 'GET', url: '/v1/internal-probe', headers: bearer(tokens.admin) });
        expect(asAdmin.statusCode).toBe(200);
      } finally {
        await isolated.close();
      }
    });

    it('forbids acting for a tenant the token is not scoped to (403)', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/runs',
        headers: bearer(tokens.globexService),
        payload: runBody(),
      });
      expect(response.statusCode).toBe(403);
      expect(response.json().error).toEqual({ code: 'forbidden', message: "token 'globex-svc' may not act for tenant 'acme'" });
    });
  });

  describe('bad input', () => {
    it('names every invalid field', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/runs',
        headers: bearer(tokens.admin),
        payload: { tenantId: 'acme', messages: [{ role: 'robot', content: 'x' }], temperature: 2 },
      });
      expect(response.statusCode).toBe(400);
      const { error } = response.json();
      expect(error.code).toBe('validation_failed');
      const fields = error.details.issues.map((i: { field: string }) => i.field);
      expect(fields).toEqual(expect.arrayContaining(['body.principalId', 'body.messages.0.role', 'body']));
      expect(error.message).toContain('Unrecognized key: "temperature"');
    });

    it('refuses an unknown model, naming it and the known ones', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/runs',
        headers: bearer(tokens.admin),
        payload: runBody({ model: 'gpt-17' }),
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toEqual({
        code: 'unknown_model',
        message: "unknown model 'gpt-17' in field body.model",
        details: { field: 'body.model', knownModels: ['sim-small', 'sim-standard', 'sim-premium'] },
      });
    });

    it('refuses more output tokens than the model allows', async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/runs',
        headers: bearer(tokens.admin),
        payload: runBody({ model: 'sim-small', maxOutputTokens: 5000 }),
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().error.message).toBe(
        "body.maxOutputTokens: 5000 exceeds the 2048 output tokens model 'sim-small' allows",
      );
    });

    it('refuses a simulated chunk delay that would look like a stalled stream', async () => {
      const response = await startRun(app, tokens.admin, runBody({ simulation: { outputTokens: 2, chunkDelayMs: 15_000 } }));
      expect(response.statusCode).toBe(400);
      expect(response.json().error.details).toEqual({ field: 'body.simulation.chunkDelayMs' });
    });

    it('keeps the error shape for malformed URLs', async () => {
      const response = await app.inject({ method: 'GET', url: '/v1/runs/%E0%A4%A', headers: bearer(tokens.admin) });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ error: { code: 'validation_failed', message: expect.any(String) } });
    });

    it('refuses a run id that is not a UUID', async () => {
      const response = await app.inject({ method: 'GET', url: '/v1/runs/abc', headers: bearer(tokens.admin) });
      expect(response.statusCode).toBe(400);
      expect(response.json().error.details.issues[0].field).toBe('params.runId');
    });

    it('answers malformed JSON, a wrong content type and an unknown route in the one error shape', async () => {
      const malformed = await app.inject({
        method: 'POST',
        url: '/v1/runs',
        headers: { ...bearer(tokens.admin), 'content-type': 'application/json' },
        payload: '{"tenantId":',
      });
      expect(malformed.statusCode).toBe(400);
      expect(malformed.json().error.code).toBe('validation_failed');

      const wrongType = await app.inject({
        method: 'POST',
        url: '/v1/runs',
        headers: { ...bearer(tokens.admin), 'content-type': 'text/csv' },
        payload: 'a,b',
      });
      expect(wrongType.statusCode).toBe(415);
      expect(wrongType.json().error.code).toBe('unsupported_media_type');

      const unknown = await app.inject({ method: 'GET', url: '/v1/nothing-here' });
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json()).toEqual({ error: { code: 'not_found', message: 'no route GET /v1/nothing-here' } });
    });
  });

  it('serves Prometheus metrics with HTTP and process series', async () => {
    await app.inject({ method: 'GET', url: '/healthz' });
    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    expect(response.body).toMatch(/palyra_http_requests_total\{method="GET",route="\/healthz",status_code="200"\} \d+/);
    expect(response.body).toContain('palyra_http_request_duration_seconds_bucket');
    expect(response.body).toContain('palyra_process_resident_memory_bytes');
  });

  it('publishes an OpenAPI document built from the route schemas, and its UI', async () => {
    const spec = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(spec.openapi).toMatch(/^3\./);
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/v1/runs', '/v1/runs/{runId}', '/healthz', '/readyz']));
    expect(spec.paths['/v1/runs'].post.requestBody.content['application/json'].schema).toBeDefined();
    expect(spec.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    const ui = await app.inject({ method: 'GET', url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toContain('text/html');
  });

  it('serves the operations console without a token (the page holds no data)', async () => {
    const page = await app.inject({ method: 'GET', url: '/console' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('<div id="root"></div>');
    const scriptPath = /<script type="module" crossorigin src="(\/console\/assets\/[^"]+\.js)">/.exec(page.body)?.[1];
    expect(scriptPath).toBeDefined();
    const script = await app.inject({ method: 'GET', url: scriptPath! });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toContain('javascript');
  });

  it('sets security headers', async () => {
    const response = await app.inject({ method: 'GET', url: '/healthz' });
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['content-security-policy']).toContain("default-src 'self'");
  });
});

describe('API limits', () => {
  it('refuses a body above the configured limit with 413', async () => {
    const { app } = await buildApp({ server: { bodyLimitBytes: 2048 } });
    try {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/runs',
        headers: bearer(tokens.admin),
        payload: runBody({ messages: [{ role: 'user', content: 'x'.repeat(4096) }] }),
      });
      expect(response.statusCode).toBe(413);
      expect(response.json().error.code).toBe('payload_too_large');
    } finally {
      await app.close();
    }
  });

  it('rate-limits a client beyond the configured rate with 429, but never the health probes', async () => {
    const { app } = await buildApp({ server: { rateLimit: { max: 3, timeWindowMs: 60_000 } } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        statuses.push(
          (
            await app.inject({
              method: 'GET',
              url: '/v1/runs/00000000-0000-4000-8000-000000000000',
              headers: bearer(tokens.admin),
            })
          ).statusCode,
        );
      }
      expect(statuses).toEqual([404, 404, 404, 429]);
      const limited = await app.inject({
        method: 'GET',
        url: '/v1/runs/00000000-0000-4000-8000-000000000000',
        headers: bearer(tokens.admin),
      });
      expect(limited.json().error.code).toBe('rate_limited');
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('limits the tokens of one tenant together, so more tokens do not mean more requests', async () => {
    const { app } = await buildApp({ server: { rateLimit: { max: 100, timeWindowMs: 60_000, perTenantMax: 5 } } });
    const get = (token: string) =>
      app.inject({ method: 'GET', url: '/v1/runs/00000000-0000-4000-8000-000000000000', headers: bearer(token) });
    try {
      for (const token of [tokens.acmeAdmin, tokens.acmeService, tokens.acmeAdmin, tokens.acmeService, tokens.acmeAdmin]) {
        expect((await get(token)).statusCode).toBe(404);
      }
      const limited = await get(tokens.acmeService);
      expect(limited.statusCode).toBe(429);
      expect(limited.json().error.message).toMatch(
        /^rate limit of 5 requests per 1 min for tenant acme \(all its tokens\) exceeded/,
      );
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      // Another tenant's token, and an all-tenant token, are not counted with acme.
      expect((await get(tokens.globexService)).statusCode).toBe(404);
      expect((await get(tokens.admin)).statusCode).toBe(404);
    } finally {
      await app.close();
    }
  });

  it('limits each token on its own, says the window and when to retry, and gives heavy routes a smaller budget', async () => {
    const { app } = await buildApp({ server: { rateLimit: { max: 8, timeWindowMs: 60_000 } } });
    const get = (token: string) =>
      app.inject({ method: 'GET', url: '/v1/runs/00000000-0000-4000-8000-000000000000', headers: bearer(token) });
    try {
      for (let i = 0; i < 8; i++) expect((await get(tokens.admin)).statusCode).toBe(404);
      const limited = await get(tokens.admin);
      expect(limited.statusCode).toBe(429);
      expect(limited.json().error.message).toMatch(
        /^rate limit of 8 requests per 1 min for this token exceeded; retry in \d+ s$/,
      );
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      // Another token from the same address, and the public docs, are not held back.
      expect((await get(tokens.operator)).statusCode).toBe(404);
      expect((await app.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(200);
      // Routing plans are heavy: a quarter of the budget (2), counted apart from reads.
      const plan = () => app.inject({ method: 'POST', url: '/v1/routing/plan', headers: bearer(tokens.operator), payload: {} });
      const planned = [await plan(), await plan(), await plan()].map((response) => response.statusCode);
      expect(planned.slice(0, 2)).not.toContain(429);
      expect(planned[2]).toBe(429);
      expect((await get(tokens.operator)).statusCode).toBe(404);
    } finally {
      await app.close();
    }
  });
});
