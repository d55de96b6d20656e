import Fastify from 'fastify';
import { Writable } from 'node:stream';
import pino from 'pino';
import { auditPlugin } from '../../src/api/plugins/audit';
import { authPlugin } from '../../src/api/plugins/auth';
import { metricsPlugin } from '../../src/api/plugins/metrics';
import type { AuditEntry } from '../../src/ledger';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';
import { approvalWaitingFinding, openIncident, waitForIncident } from '../support/incident-findings';
import { postRun, waitForRunEnd } from '../support/runs';
import { startSupervisorTestWorker, withTestWorker } from '../support/temporal';

/**
 * The audit log through the API: privileged actions as clients take them are recorded once answered,
 * with who, what, target and outcome (refusals too), and read back by an all-tenant admin.
 */
let stack: TestStack;
let supervisor: { stop(): Promise<void> };
beforeAll(async () => {
  stack = await openTestStack();
  supervisor = await startSupervisorTestWorker(stack.config, stack.ledger.repo);
});
afterAll(async () => {
  await supervisor?.stop();
  await stack?.close();
});

const inject = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, token: string, payload?: object) => {
  const response = await stack.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
  await stack.app.auditSettled();
  return response;
};
/** The newest entries for an action, read through the API. */
async function audited(query: string, token = testTokens.admin): Promise<AuditEntry[]> {
  const response = await stack.app.inject({ method: 'GET', url: `/v1/audit?${query}`, headers: bearer(token) });
  expect(response.statusCode).toBe(200);
  return response.json().items;
}
const policyBody = {
  scope: { kind: 'tenant', id: 'acme' },
  metric: 'cost',
  window: 'day',
  hardLimit: 5_000_000,
  action: 'block',
  enabled: true,
};

describe('audit log API', () => {
  it('records a budget policy put and delete with who, target, tenant and the policy facts', async () => {
    const put = await inject('PUT', '/v1/budgets/policies/audit-acme-daily', testTokens.admin, policyBody);
    expect(put.statusCode).toBe(201);
    const removed = await inject('DELETE', '/v1/budgets/policies/audit-acme-daily', testTokens.admin);
    expect(removed.statusCode).toBe(204);

    const [created] = await audited('action=budget.policy.put&actor=admin&limit=1');
    const [deleted] = await audited('action=budget.policy.delete&limit=1');
    expect(created).toMatchObject({
      actor: 'admin',
      role: 'admin',
      tenantId: 'acme',
      action: 'budget.policy.put',
      target: 'audit-acme-daily',
      outcome: 'succeeded',
      status: 201,
      errorCode: null,
      detail: { scope: 'tenant:acme', metric: 'cost', window: 'day', hardLimit: 5_000_000, action: 'block', enabled: true },
      requestId: expect.any(String),
    });
    expect(deleted).toMatchObject({
      actor: 'admin',
      action: 'budget.policy.delete',
      target: 'audit-acme-daily',
      outcome: 'succeeded',
      status: 204,
    });
  });

  it('records a refusal with its status and error code: a role too low (403) and a deleted policy (404)', async () => {
    const tooLow = await inject('PUT', '/v1/budgets/policies/audit-by-operator', testTokens.operator, policyBody);
    expect(tooLow.statusCode).toBe(403);
    const missing = await inject('DELETE', '/v1/budgets/policies/audit-never-was', testTokens.admin);
    expect(missing.statusCode).toBe(404);

    expect((await audited('actor=operator&action=budget.policy.put&limit=1'))[0]).toMatchObject({
      actor: 'operator',
      role: 'operator',
      target: 'audit-by-operator',
      outcome: 'refused',
      status: 403,
      errorCode: 'forbidden',
    });
    expect((await audited('action=budget.policy.delete&limit=1'))[0]).toMatchObject({
      target: 'audit-never-was',
      outcome: 'refused',
      status: 404,
      errorCode: 'not_found',
    });
  });

  it('records a price override with the prices', async () => {
    const put = await inject('PUT', '/v1/pricing/overrides/sim-standard', testTokens.admin, {
      inputPerMTokUsd: 2.5,
      outputPerMTokUsd: 10,
    });
    expect(put.statusCode).toBe(200);
    expect((await audited('action=pricing.override.put&limit=1'))[0]).toMatchObject({
      actor: 'admin',
      target: 'sim-standard',
      outcome: 'succeeded',
      detail: { inputPerMTokUsd: 2.5, outputPerMTokUsd: 10 },
    });
  });

  it('records an approval, and a second decision on the ended run as refused with 409', async () => {
    await stack.ledger.repo.putPolicy({
      policyId: 'audit-needs-approval',
      scope: { kind: 'tenant', id: 'acme' },
      metric: 'cost',
      window: 'day',
      hardLimit: 10,
      action: 'approval_required',
      enabled: true,
    });
    try {
      await withTestWorker(
        stack.config,
        async () => {
          const started = await postRun(stack.app, {
            principalId: 'svc-checkout',
            messages: [{ role: 'user', content: 'audit me' }],
            model: 'sim-standard',
            simulation: { outputTokens: 4, chunkDelayMs: 1 },
          });
          expect(started.json().state).toBe('awaiting_approval');
          const { runId } = started.json();
          const approval = (decision: string) =>
            inject('POST', `/v1/runs/${runId}/approval`, testTokens.operator, { decision, note: 'quarter end' });
          expect((await approval('approve')).statusCode).toBe(200);
          await waitForRunEnd(stack.app, runId);
          expect((await approval('deny')).statusCode).toBe(409);

          expect((await audited('action=run.approve&limit=1'))[0]).toMatchObject({
            actor: 'operator',
            role: 'operator',
            target: runId,
            outcome: 'succeeded',
            status: 200,
            detail: null,
          });
          expect((await audited('action=run.deny&limit=1'))[0]).toMatchObject({
            actor: 'operator',
            target: runId,
            outcome: 'refused',
            status: 409,
            errorCode: 'conflict',
          });
        },
        stack.ledger.repo,
      );
    } finally {
      await stack.ledger.repo.deletePolicy('audit-needs-approval');
    }
  });

  it('records an incident decision', async () => {
    const incidentId = await openIncident(
      stack.client,
      stack.config.temporal.supervisorTaskQueue,
      approvalWaitingFinding('acme'),
    );
    await waitForIncident(stack.app, incidentId, (incident) => incident.state === 'awaiting_approval', 'awaiting_approval');
    const rejected = await inject('POST', `/v1/incidents/${incidentId}/actions`, testTokens.admin, { action: 'reject' });
    expect(rejected.statusCode).toBe(200);
    expect((await audited(`action=incident.reject&limit=1`))[0]).toMatchObject({
      actor: 'admin',
      action: 'incident.reject',
      target: incidentId,
      outcome: 'succeeded',
    });
  });

  it('does not record requests without a valid token', async () => {
    const before = await audited('action=budget.policy.put&limit=500');
    const anonymous = await stack.app.inject({
      method: 'PUT',
      url: '/v1/budgets/policies/audit-anonymous',
      headers: bearer('not-a-token-at-all-0000'),
      payload: policyBody,
    });
    await stack.app.auditSettled();
    expect(anonymous.statusCode).toBe(401);
    expect(await audited('action=budget.policy.put&limit=500')).toEqual(before);
  });

  it('filters by actor, action and time and pages newest first with a cursor', async () => {
    const since = new Date().toISOString();
    for (const id of ['audit-page-1', 'audit-page-2', 'audit-page-3']) {
      expect((await inject('PUT', `/v1/budgets/policies/${id}`, testTokens.admin, policyBody)).statusCode).toBe(201);
    }
    const all = await audited(`since=${encodeURIComponent(since)}&action=budget.policy.put`);
    // Newest first; two entries of the same millisecond are ordered by id.
    expect(all.map((entry) => entry.target).sort()).toEqual(['audit-page-1', 'audit-page-2', 'audit-page-3']);
    expect([...all].sort((a, b) => b.at.localeCompare(a.at) || (b.id < a.id ? -1 : 1))).toEqual(all);

    const first = await stack.app.inject({
      method: 'GET',
      url: `/v1/audit?since=${encodeURIComponent(since)}&limit=2`,
      headers: bearer(testTokens.admin),
    });
    expect(first.json().items).toEqual(all.slice(0, 2));
    const second = await stack.app.inject({
      method: 'GET',
      url: `/v1/audit?since=${encodeURIComponent(since)}&limit=2&cursor=${first.json().nextCursor}`,
      headers: bearer(testTokens.admin),
    });
    expect(second.json()).toEqual({ items: all.slice(2), nextCursor: null });

    const earlier = await audited(`until=${encodeURIComponent(since)}&action=budget.policy.put&actor=admin`);
    expect(earlier.length).toBeGreaterThan(0);
    expect(earlier.filter((entry) => entry.target?.startsWith('audit-page-'))).toEqual([]);
    expect(await audited(`since=${encodeURIComponent(since)}&actor=operator`)).toEqual([]);

    const badCursor = await stack.app.inject({
      method: 'GET',
      url: '/v1/audit?cursor=not-a-cursor',
      headers: bearer(testTokens.admin),
    });
    expect(badCursor.statusCode).toBe(400);
    expect(badCursor.json().error.details).toMatchObject({ field: 'query.cursor' });
    const tooMany = await stack.app.inject({ method: 'GET', url: '/v1/audit?limit=501', headers: bearer(testTokens.admin) });
    expect(tooMany.statusCode).toBe(400);
  });

  it('is readable by all-tenant admins only', async () => {
    for (const token of [testTokens.operator, testTokens.acmeAdmin, testTokens.acmeService]) {
      const response = await stack.app.inject({ method: 'GET', url: '/v1/audit', headers: bearer(token) });
      expect(response.statusCode).toBe(403);
      expect(response.json().error.code).toBe('forbidden');
    }
    expect((await stack.app.inject({ method: 'GET', url: '/v1/audit' })).statusCode).toBe(401);
  });

  it('is in the OpenAPI document', async () => {
    const doc = (await stack.app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(doc.paths['/v1/audit'].get).toMatchObject({ summary: 'Read the audit log', tags: ['audit'] });
  });

  it('never stores a token value', async () => {
    const rows = await stack.ledger.connection.db.selectFrom('audit_log').selectAll().execute();
    expect(rows.length).toBeGreaterThan(5);
    const stored = JSON.stringify(rows);
    for (const token of [...Object.values(testTokens), 'not-a-token-at-all-0000']) expect(stored).not.toContain(token);
  });
});

describe('audit writes that fail', () => {
  it('never fail the request: they are logged at error level without the token, and counted', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const token = 'audit-failure-secret-token-0001';
    const app = Fastify({ loggerInstance: pino({ level: 'info' }, stream) });
    await app.register(metricsPlugin, {});
    const tokens = [{ name: 'ops', token, role: 'admin' as const, tenants: ['*'] }];
    await app.register(authPlugin, { tokens, failedAuth: { threshold: 10, windowMs: 60_000, maxDelayMs: 60_000 } });
    await app.register(auditPlugin, {
      ledger: {
        recordAudit: () => Promise.reject(new Error('ledger is read-only')),
      },
    });
    app.post('/act', { config: { auth: { role: 'admin' }, audit: { action: 'test.act' } } }, async () => ({ ok: true }));
    try {
      const response = await app.inject({ method: 'POST', url: '/act', headers: bearer(token) });
      await app.auditSettled();
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ ok: true });

      const failures = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'audit entry not recorded');
      expect(failures).toEqual([expect.objectContaining({ level: 50, auditAction: 'test.act', error: 'ledger is read-only' })]);
      expect(lines.join('')).not.toContain(token);
      const metrics = await app.metrics.metrics();
      expect(metrics).toContain('palyra_audit_write_failures_total 1');
    } finally {
      await app.close();
    }
  });
});
