import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { createTenantPauses, pausedTenantRetryAfterSeconds, tenantPauseCacheTtlMs } from '../../src/api/tenants/pauses';
import type { TenantPause } from '../../src/ledger';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';
import type { TestLedger } from '../support/ledger';
import { expectBooksClosed, postRun, waitForRunEnd } from '../support/runs';
import { startTestWorker } from '../support/temporal';

const quickRun = {
  principalId: 'svc',
  messages: [{ role: 'user', content: 'hello' }],
  simulation: { outputTokens: 3, chunkDelayMs: 0 },
};

describe('tenant pauses', () => {
  let stack: TestStack;
  let app: FastifyInstance;
  let ledger: TestLedger;
  let worker: { stop(): Promise<void> };

  beforeAll(async () => {
    stack = await openTestStack();
    ({ app, ledger } = stack);
    worker = await startTestWorker(stack.config, ledger.repo);
  });
  afterAll(async () => {
    await worker?.stop();
    await stack?.close();
  });

  const listPaused = (token: string) => app.inject({ method: 'GET', url: '/v1/tenants/paused', headers: bearer(token) });
  const resume = (tenantId: string, token = testTokens.admin) =>
    app.inject({ method: 'POST', url: `/v1/tenants/${tenantId}/resume`, headers: bearer(token) });

  it("answers a paused tenant's new runs 503 with Retry-After and who paused it and why, until an SRE resumes it", async () => {
    const { pause } = await ledger.repo.pauseTenant({
      tenantId: 'acme',
      reason: 'spend in the last hour is 12x the trailing daily rate',
      by: 'alice',
      incidentId: 'incident-0123456789abcdef',
    });
    await ledger.repo.pauseTenant({ tenantId: 'initech', reason: 'manual', by: 'bob' });
    // Another process paused it: this API sees it within the cache's lifetime.
    await delay(tenantPauseCacheTtlMs);

    const refused = await postRun(app, quickRun);
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe(String(pausedTenantRetryAfterSeconds));
    expect(refused.json().error).toEqual({
      code: 'tenant_paused',
      message:
        `tenant 'acme' is paused by alice since ${pause.pausedAt}: spend in the last hour is 12x the trailing daily rate. ` +
        'New runs are refused until an SRE resumes it (POST /v1/tenants/acme/resume).',
      details: {
        tenantId: 'acme',
        reason: 'spend in the last hour is 12x the trailing daily rate',
        pausedBy: 'alice',
        pausedAt: pause.pausedAt,
        incidentId: 'incident-0123456789abcdef',
        retryAfterSeconds: pausedTenantRetryAfterSeconds,
      },
    });

    // Another tenant runs as usual.
    const other = await postRun(app, { ...quickRun, tenantId: 'globex' }, testTokens.globexService);
    expect(other.statusCode).toBe(202);
    expect((await waitForRunEnd(app, other.json().runId)).state).toBe('succeeded');

    const listed = await listPaused(testTokens.operator);
    expect(listed.statusCode).toBe(200);
    expect(listed.json().items).toEqual([pause, expect.objectContaining({ tenantId: 'initech', pausedBy: 'bob' })]);
    // A token limited to acme sees acme's pause only.
    expect((await listPaused(testTokens.acmeAdmin)).json().items).toEqual([pause]);

    const resumed = await resume('acme');
    expect(resumed.statusCode).toBe(200);
    expect(resumed.json()).toEqual({ tenantId: 'acme', resumed: true, pause });
    expect((await resume('acme')).json()).toEqual({ tenantId: 'acme', resumed: false });

    // Resumed through this API: admitted again at once, not after the cache expires.
    const accepted = await postRun(app, quickRun);
    expect(accepted.statusCode).toBe(202);
    expect(accepted.json().admission).toMatchObject({ status: 'admitted' });
    expect((await waitForRunEnd(app, accepted.json().runId)).state).toBe('succeeded');
    expect((await listPaused(testTokens.operator)).json().items.map((p: TenantPause) => p.tenantId)).toEqual(['initech']);

    await ledger.repo.resumeTenant('initech');
    await expectBooksClosed(ledger);
  });

  it('lets operators list and SREs resume, each only for their tenants', async () => {
    await ledger.repo.pauseTenant({ tenantId: 'globex', reason: 'manual', by: 'carol' });
    try {
      const listedByService = await listPaused(testTokens.acmeService);
      expect(listedByService.statusCode).toBe(403);
      expect(listedByService.json().error.message).toContain("this route needs 'operator'");

      const byOperator = await resume('globex', testTokens.operator);
      expect(byOperator.statusCode).toBe(403);
      expect(byOperator.json().error.message).toContain("this route needs 'sre'");
      const byOtherTenant = await resume('globex', testTokens.acmeAdmin);
      expect(byOtherTenant.statusCode).toBe(403);
      expect(byOtherTenant.json().error.message).toContain("may not act for tenant 'globex'");
      expect(await ledger.repo.tenantPause('globex')).toBeDefined();

      const invalid = await resume('bad%20tenant');
      expect(invalid.statusCode).toBe(400);
      expect(invalid.json().error.message).toContain('params.tenantId');

      expect((await resume('globex', testTokens.globexAdmin)).json()).toMatchObject({ tenantId: 'globex', resumed: true });
    } finally {
      await ledger.repo.resumeTenant('globex');
    }
  });
});

describe('the tenant pause cache', () => {
  const pause = (tenantId: string): TenantPause => ({
    tenantId,
    reason: 'r',
    pausedBy: 'p',
    pausedAt: '2026-11-27T12:00:00.000Z',
  });

  it('reads the ledger at most once per TTL, once for many callers, and again after invalidate or a failed read', async () => {
    let now = 0;
    let reads = 0;
    let stored: TenantPause[] = [pause('acme')];
    let failNext = false;
    const pauses = createTenantPauses({
      ledger: {
        pausedTenants: async () => {
          reads += 1;
          if (failNext) {
            failNext = false;
            throw new Error('ledger down');
          }
          return stored;
        },
      },
      ttlMs: 2_000,
      now: () => now,
    });

    const answers = await Promise.all([pauses.pauseOf('acme'), pauses.pauseOf('globex'), pauses.pauseOf('acme')]);
    expect(answers).toEqual([pause('acme'), undefined, pause('acme')]);
    expect(reads).toBe(1);

    stored = [];
    now = 1_999;
    await expect(pauses.assertNotPaused('acme')).rejects.toMatchObject({ code: 'tenant_paused' });
    expect(reads).toBe(1);
    now = 2_000;
    await expect(pauses.assertNotPaused('acme')).resolves.toBeUndefined();
    expect(reads).toBe(2);

    stored = [pause('globex')];
    pauses.invalidate();
    expect(await pauses.pauseOf('globex')).toEqual(pause('globex'));
    expect(reads).toBe(3);

    pauses.invalidate();
    failNext = true;
    await expect(pauses.pauseOf('globex')).rejects.toThrow('ledger down');
    expect(await pauses.pauseOf('globex')).toEqual(pause('globex'));
    expect(reads).toBe(5);
  });
});
