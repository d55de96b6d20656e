import { randomUUID } from 'node:crypto';
import type { Client, Connection } from '@temporalio/client';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildServer } from '../../src/api/server';
import type { AuthTokenConfig, PalyraConfig, Role } from '../../src/config';
import { bearer, testTokens } from '../support/app';
import { openTestLedger, type TestLedger } from '../support/ledger';
import type * as routeTable from '../support/route-table';
import { recordedRoutes, routeKey, type RecordedRoute } from '../support/route-table';
import { composeTestServices, connectTestClient, startTestWorker, testConfig } from '../support/temporal';

jest.mock('fastify', () =>
  jest.requireActual<typeof routeTable>('../support/route-table').routeRecordingFastify(jest.requireActual('fastify')),
);

type Tenant = 'acme' | 'globex';
const otherTenant = (tenant: Tenant): Tenant => (tenant === 'acme' ? 'globex' : 'acme');

interface Caller {
  name: string;
  token?: string;
  role?: Role;
  /** Undefined: every tenant. */
  tenant?: Tenant;
}

const callers: Caller[] = [
  { name: 'no token' },
  { name: 'unknown token', token: 'not-a-configured-token-0123456789' },
  { name: 'admin', token: testTokens.admin, role: 'admin' },
  { name: 'sre', token: 'sre-token-0123456789', role: 'sre' },
  { name: 'operator', token: testTokens.operator, role: 'operator' },
  { name: 'acme-admin', token: testTokens.acmeAdmin, role: 'admin', tenant: 'acme' },
  { name: 'acme-sre', token: 'acme-sre-token-0123456789', role: 'sre', tenant: 'acme' },
  { name: 'acme-operator', token: 'acme-operator-token-0123456789', role: 'operator', tenant: 'acme' },
  { name: 'acme-svc', token: testTokens.acmeService, role: 'service', tenant: 'acme' },
  { name: 'globex-admin', token: testTokens.globexAdmin, role: 'admin', tenant: 'globex' },
  { name: 'globex-svc', token: testTokens.globexService, role: 'service', tenant: 'globex' },
];

const tokenConfig: AuthTokenConfig[] = callers.flatMap((caller) =>
  caller.token && caller.role
    ? [{ name: caller.name, token: caller.token, role: caller.role, tenants: [caller.tenant ?? '*'] }]
    : [],
);

/** The resources each tenant owns in this test: a run with a task, a budget policy. */
interface Fixtures {
  runId: Record<Tenant, string>;
  taskId: Record<Tenant, string>;
  policyId: Record<Tenant, string>;
}

interface MatrixRequest {
  url: string;
  payload?: unknown;
}

/**
 * How a route meets tenants.
 * - `none`: no tenant involved (health, docs, the price list): a role check only.
 * - `input`: the tenant is named in the path or body: another tenant's is 403.
 * - `resource`: the path names a resource a tenant owns: another tenant's is 403 or 404.
 * - `filtered`: a listing: 200, holding none of another tenant's resources.
 * - `allTenants`: spans tenants: a token limited to some tenants gets 403 whatever its role.
 */
type Tenancy = 'none' | 'input' | 'resource' | 'filtered' | 'allTenants';

interface RouteRule {
  access: 'public' | Role;
  tenancy: Tenancy;
  /** A request on `tenant`'s resources (a tenant-less route ignores it). Defaults to the bare URL. */
  request?: (tenant: Tenant, fx: Fixtures) => MatrixRequest;
  /** Answers a permitted caller may get besides 2xx and 4xx (a public probe's 503). */
  also?: number[];
}

const runBody = (tenant: Tenant) => ({
  tenantId: tenant,
  principalId: `svc-${tenant}`,
  messages: [{ role: 'user', content: 'matrix' }],
  simulation: { outputTokens: 4, chunkDelayMs: 0 },
});
const policyBody = (tenant: Tenant) => ({ scope: { kind: 'tenant', id: tenant }, metric: 'cost', window: 'day', hardLimit: 1e9 });
// Installation-wide incidents are not made here: ids of incidents that do not exist must be 404 for all.
const incidentIds: Record<Tenant, string> = { acme: 'incident-00000000000000ac', globex: 'incident-000000000000000b' };
// The matrix reaches the handler with a body the schema refuses: a valid one would start a doctor job
// against the shared dev server. `repair_apply` is admin-only inside the handler; tested below.
const invalidDoctorJob = { mode: 'diagnose-everything' };

/**
 * The intended access to every route. A route the app registers without an entry here fails the
 * coverage test by name, so a new route cannot ship unreviewed.
 */
const expectations: Record<string, RouteRule> = {
  'GET /healthz': { access: 'public', tenancy: 'none' },
  'GET /readyz': { access: 'public', tenancy: 'none', also: [503] },
  'GET /metrics': { access: 'public', tenancy: 'none' },
  'GET /docs': { access: 'public', tenancy: 'none' },
  'GET /docs/json': { access: 'public', tenancy: 'none' },
  'GET /docs/yaml': { access: 'public', tenancy: 'none' },
  'GET /docs/static/index.html': { access: 'public', tenancy: 'none' },
  'GET /docs/static/swagger-initializer.js': { access: 'public', tenancy: 'none' },
  'GET /docs/static/*': { access: 'public', tenancy: 'none', request: () => ({ url: '/docs/static/swagger-ui.css' }) },
  'GET /console': { access: 'public', tenancy: 'none' },
  'GET /console/*': { access: 'public', tenancy: 'none', request: () => ({ url: '/console/runs' }) },

  'POST /v1/runs': { access: 'service', tenancy: 'input', request: (t) => ({ url: '/v1/runs', payload: runBody(t) }) },
  'GET /v1/runs': { access: 'service', tenancy: 'filtered' },
  'GET /v1/runs/:runId': { access: 'service', tenancy: 'resource', request: (t, fx) => ({ url: `/v1/runs/${fx.runId[t]}` }) },
  'POST /v1/runs/:runId/approval': {
    access: 'operator',
    tenancy: 'resource',
    request: (t, fx) => ({ url: `/v1/runs/${fx.runId[t]}/approval`, payload: { decision: 'approve' } }),
  },
  'POST /v1/runs/:runId/tasks': {
    access: 'service',
    tenancy: 'resource',
    request: (t, fx) => ({
      url: `/v1/runs/${fx.runId[t]}/tasks`,
      payload: { backgroundTasks: [{ kind: 'summary', input: { text: 'more' }, notBefore: inAnHour() }] },
    }),
  },
  'GET /v1/tasks/:taskId': {
    access: 'operator',
    tenancy: 'resource',
    request: (t, fx) => ({ url: `/v1/tasks/${fx.taskId[t]}` }),
  },
  'POST /v1/tasks/:taskId/:action': {
    access: 'operator',
    tenancy: 'resource',
    request: (t, fx) => ({ url: `/v1/tasks/${fx.taskId[t]}/resume`, payload: {} }),
  },
  // Last of the run routes: it ends the run the others act on.
  'POST /v1/runs/:runId/cancel': {
    access: 'service',
    tenancy: 'resource',
    request: (t, fx) => ({ url: `/v1/runs/${fx.runId[t]}/cancel` }),
  },

  'GET /v1/incidents': { access: 'operator', tenancy: 'filtered' },
  'GET /v1/incidents/:incidentId': {
    access: 'operator',
    tenancy: 'resource',
    request: (t) => ({ url: `/v1/incidents/${incidentIds[t]}` }),
  },
  'POST /v1/incidents/:incidentId/actions': {
    access: 'sre',
    tenancy: 'resource',
    request: (t) => ({ url: `/v1/incidents/${incidentIds[t]}/actions`, payload: { action: 'resolve' } }),
  },

  'GET /v1/tenants/paused': { access: 'operator', tenancy: 'filtered' },
  'POST /v1/tenants/:tenantId/resume': { access: 'sre', tenancy: 'input', request: (t) => ({ url: `/v1/tenants/${t}/resume` }) },

  'GET /v1/budgets/policies': { access: 'operator', tenancy: 'filtered' },
  'GET /v1/budgets/usage': { access: 'operator', tenancy: 'filtered' },
  // By policy, so another tenant's policy id would show if its spend leaked.
  'GET /v1/budgets/spend': {
    access: 'operator',
    tenancy: 'filtered',
    request: () => ({ url: '/v1/budgets/spend?groupBy=policy&bucket=day' }),
  },
  'GET /v1/budgets/policies/:policyId': {
    access: 'operator',
    tenancy: 'resource',
    request: (t, fx) => ({ url: `/v1/budgets/policies/${fx.policyId[t]}` }),
  },
  'PUT /v1/budgets/policies/:policyId': {
    access: 'admin',
    tenancy: 'resource',
    request: (t, fx) => ({ url: `/v1/budgets/policies/${fx.policyId[t]}`, payload: policyBody(t) }),
  },
  'DELETE /v1/budgets/policies/:policyId': {
    access: 'admin',
    tenancy: 'resource',
    request: (t, fx) => ({ url: `/v1/budgets/policies/${fx.policyId[t]}` }),
  },

  'GET /v1/pricing/models': { access: 'operator', tenancy: 'none' },
  'PUT /v1/pricing/overrides/:modelId': {
    access: 'admin',
    tenancy: 'allTenants',
    request: () => ({ url: '/v1/pricing/overrides/matrix-model', payload: { inputPerMTokUsd: 1, outputPerMTokUsd: 2 } }),
  },
  'POST /v1/routing/plan': {
    access: 'service',
    tenancy: 'input',
    request: (t) => ({ url: '/v1/routing/plan', payload: { ...runBody(t), simulation: undefined } }),
  },

  'GET /v1/session': { access: 'service', tenancy: 'none' },
  'GET /v1/audit': { access: 'admin', tenancy: 'allTenants' },

  'GET /console/v1/diagnostics': { access: 'operator', tenancy: 'allTenants' },
  'POST /console/v1/doctor/jobs': {
    access: 'operator',
    tenancy: 'allTenants',
    request: () => ({ url: '/console/v1/doctor/jobs', payload: invalidDoctorJob }),
  },
  'GET /console/v1/doctor/jobs': { access: 'operator', tenancy: 'allTenants' },
  'GET /console/v1/doctor/jobs/:jobId': {
    access: 'operator',
    tenancy: 'allTenants',
    request: () => ({ url: `/console/v1/doctor/jobs/${randomUUID()}` }),
  },
};

function inAnHour(): string {
  return new Date(Date.now() + 3_600_000).toISOString();
}

const rank: Role[] = ['service', 'operator', 'sre', 'admin'];
const mayCall = (caller: Caller, access: Role) => caller.role !== undefined && rank.indexOf(caller.role) >= rank.indexOf(access);

/** What one caller must get on one request, and why, for the failure message. */
type Verdict =
  | { kind: 'unauthenticated' }
  | { kind: 'forbidden' }
  | { kind: 'refused' } // 403 or 404
  | { kind: 'permitted'; also: number[] };

function verdictFor(rule: RouteRule, caller: Caller, target: Tenant): Verdict {
  if (rule.access === 'public') return { kind: 'permitted', also: rule.also ?? [] };
  if (!caller.token || !caller.role) return { kind: 'unauthenticated' };
  if (!mayCall(caller, rule.access)) return { kind: 'forbidden' };
  if (rule.tenancy === 'allTenants' && caller.tenant !== undefined) return { kind: 'forbidden' };
  const foreign = caller.tenant !== undefined && caller.tenant !== target;
  if (foreign && (rule.tenancy === 'input' || rule.tenancy === 'resource')) return { kind: 'refused' };
  return { kind: 'permitted', also: rule.also ?? [] };
}

function holds(verdict: Verdict, status: number): boolean {
  switch (verdict.kind) {
    case 'unauthenticated':
      return status === 401;
    case 'forbidden':
      return status === 403;
    case 'refused':
      return status === 403 || status === 404;
    case 'permitted':
      return (status < 500 && status !== 401 && status !== 403) || verdict.also.includes(status);
  }
}

let client: Client;
let connection: Connection;
let ledger: TestLedger;
let config: PalyraConfig;
let app: FastifyInstance;
let worker: { stop(): Promise<void> };
let fixtures: Fixtures;

beforeAll(async () => {
  ({ client, connection } = await connectTestClient());
  ledger = await openTestLedger('sqlite');
  config = testConfig({
    server: {
      // Hundreds of requests from one address, a third of them without a valid token.
      failedAuth: { threshold: 100_000, windowMs: 60_000, maxDelayMs: 1_000 },
      rateLimit: { max: 100_000, timeWindowMs: 60_000 },
    },
    runs: { admissionWaitMs: 5_000 },
  });
  app = await buildServer({
    config,
    logger: false,
    temporal: { client, connection, uiUrl: undefined },
    tokens: tokenConfig,
    ledger: ledger.repo,
    routePlanner: (await composeTestServices(config, ledger.repo)).routePlanner,
    version: 'test',
  });
  worker = await startTestWorker(config, ledger.repo);

  const startRun = async (tenant: Tenant) => {
    // A task that may not start for an hour keeps the run open for the task routes.
    const payload = {
      ...runBody(tenant),
      backgroundTasks: [{ kind: 'summary', input: { text: 'hold' }, notBefore: inAnHour() }],
    };
    const response = await app.inject({ method: 'POST', url: '/v1/runs', headers: bearer(testTokens.admin), payload });
    expect(response.statusCode).toBe(202);
    const run = response.json<{ runId: string; backgroundTasks: { taskId: string }[] }>();
    return { runId: run.runId, taskId: (run.backgroundTasks[0] as { taskId: string }).taskId };
  };
  const [acme, globex] = await Promise.all([startRun('acme'), startRun('globex')]);
  fixtures = {
    runId: { acme: acme.runId, globex: globex.runId },
    taskId: { acme: acme.taskId, globex: globex.taskId },
    policyId: { acme: 'matrix-acme-daily', globex: 'matrix-globex-daily' },
  };
  await seedPolicies();
  // Spend settled under each tenant's policy, so a spend chart that leaked would name the other's.
  for (const tenant of ['acme', 'globex'] as const) {
    const reservationId = `matrix-spend-${tenant}`;
    await ledger.repo.reserve({
      reservationId,
      runId: reservationId,
      scope: { tenantId: tenant, principalId: `svc-${tenant}`, modelId: 'sim-standard' },
      inputTokens: 10,
      maxOutputTokens: 10,
      price: { inputMicroUsdPerMTok: 1_000_000, outputMicroUsdPerMTok: 1_000_000 },
      catalogVersion: 'matrix',
      expiresAt: new Date(Date.now() + 60_000),
    });
    await ledger.repo.settle({ reservationId, actual: { inputTokens: 10, outputTokens: 5 } });
  }
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await app?.close();
  await ledger?.close();
  await connection?.close();
});

/** Budget fixtures come back before every request: an earlier caller may have deleted or rescoped one. */
async function seedPolicies(): Promise<void> {
  for (const tenant of ['acme', 'globex'] as const) {
    const response = await app.inject({
      method: 'PUT',
      url: `/v1/budgets/policies/${fixtures.policyId[tenant]}`,
      headers: bearer(testTokens.admin),
      payload: policyBody(tenant),
    });
    expect(response.statusCode).toBeLessThan(300);
  }
}

function send(route: RecordedRoute, caller: Caller, request: MatrixRequest): Promise<LightMyRequestResponse> {
  return app.inject({
    method: route.method as 'GET',
    url: request.url,
    headers: caller.token ? bearer(caller.token) : {},
    ...(request.payload !== undefined ? { payload: request.payload as object } : {}),
  });
}

/** Other tenants' resource ids that must never appear in an answer to a caller limited to `tenant`. */
function foreignIds(tenant: Tenant): string[] {
  const other = otherTenant(tenant);
  return [fixtures.runId[other], fixtures.taskId[other], fixtures.policyId[other]];
}

describe('authorization matrix', () => {
  it('has an expectation for exactly the routes the app registers', () => {
    const registered = recordedRoutes(app).map(routeKey);
    const missing = registered.filter((key) => !(key in expectations));
    const stale = Object.keys(expectations).filter((key) => !registered.includes(key));
    expect({ missing, stale }).toEqual({ missing: [], stale: [] });
  });

  it('answers every route × caller × tenant as the table says', async () => {
    const failures: string[] = [];
    let requests = 0;
    const routes = recordedRoutes(app)
      .filter((route) => routeKey(route) in expectations)
      .sort((a, b) => Object.keys(expectations).indexOf(routeKey(a)) - Object.keys(expectations).indexOf(routeKey(b)));
    for (const route of routes) {
      const rule = expectations[routeKey(route)] as RouteRule;
      const targets: Tenant[] = rule.tenancy === 'none' || rule.tenancy === 'allTenants' ? ['acme'] : ['acme', 'globex'];
      for (const caller of callers) {
        for (const target of targets) {
          if (route.url.startsWith('/v1/budgets')) await seedPolicies();
          const request = rule.request?.(target, fixtures) ?? { url: route.url };
          const response = await send(route, caller, request);
          requests++;
          const verdict = verdictFor(rule, caller, target);
          const where = `${route.method} ${request.url} as ${caller.name} on ${target}'s`;
          if (!holds(verdict, response.statusCode)) {
            failures.push(`${where}: expected ${verdict.kind}, got ${response.statusCode} ${response.body.slice(0, 300)}`);
          }
          if (caller.tenant && response.statusCode < 300) {
            const leaked = foreignIds(caller.tenant).filter((id) => response.body.includes(id));
            if (leaked.length > 0) failures.push(`${where}: answered ${response.statusCode} with ${leaked.join(', ')}`);
          }
          if (response.statusCode >= 400 && response.headers['content-type']?.toString().includes('json')) {
            const body = response.json<{ error?: { code?: unknown; message?: unknown } }>();
            if (typeof body.error?.code !== 'string' || typeof body.error.message !== 'string') {
              failures.push(`${where}: error without the { error: { code, message } } shape: ${response.body.slice(0, 300)}`);
            }
          }
        }
      }
    }
    process.stdout.write(`authorization matrix: ${routes.length} routes, ${callers.length} callers, ${requests} requests\n`);
    expect(failures).toEqual([]);
  }, 180_000);

  it('lets only an admin apply a repair from the console', async () => {
    for (const name of ['operator', 'sre', 'acme-operator', 'acme-sre']) {
      const caller = callers.find((c) => c.name === name) as Caller;
      const response = await app.inject({
        method: 'POST',
        url: '/console/v1/doctor/jobs',
        headers: bearer(caller.token as string),
        payload: { mode: 'repair_apply' },
      });
      expect({ name, status: response.statusCode }).toEqual({ name, status: 403 });
    }
  });

  it("will not let a tenant admin take over another tenant's budget policy by rescoping it", async () => {
    await seedPolicies();
    const response = await app.inject({
      method: 'PUT',
      url: `/v1/budgets/policies/${fixtures.policyId.globex}`,
      headers: bearer(testTokens.acmeAdmin),
      payload: policyBody('acme'),
    });
    expect(response.statusCode).toBe(404);
    const policy = await app.inject({
      method: 'GET',
      url: `/v1/budgets/policies/${fixtures.policyId.globex}`,
      headers: bearer(testTokens.admin),
    });
    expect(policy.json().scope).toEqual({ kind: 'tenant', id: 'globex' });
  });
});
