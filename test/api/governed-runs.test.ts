import { setTimeout as delay } from 'node:timers/promises';
import type { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { PalyraConfig } from '../../src/config';
import { costMicroUsd } from '../../src/domain/pricing';
import { simulatedInputTokens } from '../../src/providers/simulated';
import { runStateQuery, runWorkflowId } from '../../src/temporal/contracts';
import { bearer, buildTestApp, testTokens } from '../support/app';
import { simStandardModel } from '../support/models';
import { ledgerDialects, openTestLedger, type TestLedger } from '../support/ledger';
import { expectBooksClosed, postRun, waitForRunEnd, windowsOfRun } from '../support/runs';
import { connectTestClient, withTestWorker } from '../support/temporal';

/** sim-standard in the default config: $2.50 in / $10 out per MTok. */
const simStandard = { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 };

let client: Client;
let connection: Connection;
beforeAll(async () => {
  ({ client, connection } = await connectTestClient());
});
afterAll(() => connection.close());

describe.each(ledgerDialects())('governed runs on the %s ledger', (dialect) => {
  let ledger: TestLedger;
  let app: FastifyInstance;
  let config: PalyraConfig;

  beforeEach(async () => {
    ledger = await openTestLedger(dialect);
    ({ app, config } = await buildTestApp({
      client,
      connection,
      ledger: ledger.repo,
      config: {
        models: [
          simStandardModel,
          // Not in the genai-prices catalog and no price in config: must never run for free.
          { id: 'sim-unpriced', provider: 'simulated', tier: 'low', contextWindow: 16_000, maxOutputTokens: 1_000 },
        ],
      },
    }));
  });
  afterEach(async () => {
    await expectBooksClosed(ledger);
    await app.close();
    await ledger.close();
  });

  const withWorker = <T>(fn: () => Promise<T>) => withTestWorker(config, fn, ledger.repo);
  /** Starts a run through `target` (the describe's app unless a test built one with other config). */
  const runMessages = [{ role: 'user' as const, content: 'write a haiku about budgets' }];
  const startRun = (body: Record<string, unknown> = {}, target: FastifyInstance = app) =>
    postRun(target, {
      principalId: 'svc-checkout',
      messages: runMessages,
      model: 'sim-standard',
      simulation: { outputTokens: 8, chunkDelayMs: 5 },
      ...body,
    });
  const finished = (runId: string) => waitForRunEnd(app, runId);
  const putPolicy = (policyId: string, hardLimit: number) =>
    ledger.repo.putPolicy({
      policyId,
      scope: { kind: 'tenant', id: 'acme' },
      metric: 'cost',
      window: 'day',
      hardLimit,
      action: 'block',
      enabled: true,
    });

  it('answers with the admission at once, then settles the run at exactly the catalog’s arithmetic', async () => {
    await putPolicy('acme-daily', 5_000_000);
    await withWorker(async () => {
      const started = await startRun({ maxOutputTokens: 100 });
      expect(started.statusCode).toBe(202);
      const { runId, admission } = started.json();
      const inputTokens = admission.estimate.inputTokens;
      expect(admission).toMatchObject({
        status: 'admitted',
        reservationId: `run-${runId}`,
        clamped: false,
        maxOutputTokens: 100,
        reservedMicroUsd: costMicroUsd(simStandard, { inputTokens, outputTokens: 100 }),
        estimate: {
          maxOutputTokens: 100,
          source: 'config',
          upperMicroUsd: costMicroUsd(simStandard, { inputTokens, outputTokens: 100 }),
        },
      });

      const run = await finished(runId);
      expect(run.state).toBe('succeeded');
      expect(run.usage).toMatchObject({ outputTokens: 8, estimated: false });
      expect(run.costMicroUsd).toBe(costMicroUsd(simStandard, { inputTokens: run.usage.inputTokens, outputTokens: 8 }));
      expect(await ledger.repo.getReservation(`run-${runId}`)).toMatchObject({ state: 'settled' });
      const [window] = await windowsOfRun(ledger.repo, run.runId);
      expect(window).toMatchObject({ policyId: 'acme-daily', spent: run.costMicroUsd, reserved: 0 });
    });
  });

  it('refuses a run the budget cannot hold with 402 and the numbers, and records it as denied', async () => {
    await putPolicy('acme-tiny', 10); // 10 µUSD: less than the prompt alone costs
    await withWorker(async () => {
      const refused = await startRun();
      expect(refused.statusCode).toBe(402);
      const { error } = refused.json();
      expect(error).toMatchObject({
        code: 'budget_exceeded',
        message: expect.stringContaining("budget policy 'acme-tiny'"),
        details: {
          policyId: 'acme-tiny',
          window: 'day',
          spentMicroUsd: 0,
          reservedMicroUsd: 0,
          limitMicroUsd: 10,
          requestedMicroUsd: expect.any(Number),
          runId: expect.any(String),
        },
      });
      const run = await finished(error.details.runId);
      expect(run).toMatchObject({ state: 'denied', costMicroUsd: 0, error: { code: 'budget_exceeded' } });
      expect(run.admission.refusal).toMatchObject({ policyId: 'acme-tiny', limit: 10 });
      expect(await ledger.repo.getReservation(`run-${error.details.runId}`)).toMatchObject({ state: 'refused' });
    });
  });

  it('clamps maxOutputTokens to what the budget still holds instead of refusing', async () => {
    // The first run measures the prompt; the policy then holds it plus exactly 20 output tokens.
    await withWorker(async () => {
      const first = (await startRun({ maxOutputTokens: 10 })).json();
      await finished(first.runId);
      const inputTokens = first.admission.estimate.inputTokens;
      const limit = first.admission.reservedMicroUsd + costMicroUsd(simStandard, { inputTokens, outputTokens: 20 });
      await putPolicy('acme-clamp', limit);

      const started = await startRun({ maxOutputTokens: 500, simulation: { outputTokens: 400, chunkDelayMs: 0 } });
      expect(started.statusCode).toBe(202);
      // The first run spent less than it reserved, so a little more than 20 tokens fit.
      const { admission, runId } = started.json();
      expect(admission).toMatchObject({ status: 'admitted', clamped: true });
      expect(admission.maxOutputTokens).toBeGreaterThanOrEqual(20);
      expect(admission.maxOutputTokens).toBeLessThan(500);
      expect(started.json().maxOutputTokens).toBe(admission.maxOutputTokens);
      const run = await finished(runId);
      expect(run).toMatchObject({ state: 'succeeded', usage: { outputTokens: admission.maxOutputTokens } });
      const [window] = (await windowsOfRun(ledger.repo, run.runId)).filter((w) => w.policyId === 'acme-clamp');
      expect(window?.spent).toBeLessThanOrEqual(limit);
    });
  });

  it('settles what a run cancelled mid-stream consumed and releases the rest', async () => {
    await putPolicy('acme-daily', 5_000_000);
    await withWorker(async () => {
      const started = (await startRun({ simulation: { outputTokens: 200, chunkDelayMs: 50 } })).json();
      const handle = client.workflow.getHandle(runWorkflowId(started.runId));
      let state = await handle.query(runStateQuery);
      while (state.state !== 'running') state = await handle.query(runStateQuery);
      await delay(500); // some tokens stream first
      await handle.cancel();
      const run = await finished(started.runId);
      expect(run.state).toBe('cancelled');
      const streamed = run.usage.outputTokens;
      expect(streamed).toBeGreaterThan(0);
      expect(streamed).toBeLessThan(200);
      // The prompt as the provider counted it in its running usage (the simulated one reports it).
      expect(run.usage).toEqual({ inputTokens: simulatedInputTokens(runMessages), outputTokens: streamed, estimated: true });
      expect(run.costMicroUsd).toBe(costMicroUsd(simStandard, { inputTokens: run.usage.inputTokens, outputTokens: streamed }));
      expect(await ledger.repo.getReservation(`run-${started.runId}`)).toMatchObject({ state: 'settled' });
      expect((await windowsOfRun(ledger.repo, run.runId))[0]).toMatchObject({ spent: run.costMicroUsd, reserved: 0 });
    });
  });

  it('charges a stream cut mid-way and retried for both attempts, once', async () => {
    await putPolicy('acme-daily', 5_000_000);
    await withWorker(async () => {
      const started = (
        await startRun({ simulation: { outputTokens: 20, chunkDelayMs: 0, failAttempts: 1, failure: 'stream_cut' } })
      ).json();
      const run = await finished(started.runId);
      expect(run.state).toBe('succeeded');
      expect(run.usage).toMatchObject({ outputTokens: 20, estimated: false });
      expect(run.chargedAttempts).toEqual([
        {
          attempt: 1,
          inputTokens: expect.any(Number),
          outputTokens: expect.any(Number),
          failure: expect.stringContaining('cut'),
        },
      ]);
      const [cut] = run.chargedAttempts;
      expect(cut.outputTokens).toBeGreaterThan(0);
      const total = { inputTokens: run.usage.inputTokens + cut.inputTokens, outputTokens: 20 + cut.outputTokens };
      expect(run.costMicroUsd).toBe(costMicroUsd(simStandard, total));
      expect((await windowsOfRun(ledger.repo, run.runId))[0]).toMatchObject({ spent: run.costMicroUsd, reserved: 0 });
    });
  });

  it('retries a stream that stalls past the heartbeat timeout and charges the stalled attempt too', async () => {
    await putPolicy('acme-daily', 5_000_000);
    const stallingConfig = { ...config, runs: { ...config.runs, heartbeatTimeoutMs: 1_500 } };
    const { app: stallingApp } = await buildTestApp({ client, connection, ledger: ledger.repo, config: stallingConfig });
    try {
      await withTestWorker(
        stallingConfig,
        async () => {
          const started = await startRun(
            { simulation: { outputTokens: 6, chunkDelayMs: 0, stallAfterTokens: 3, stallMs: 60_000 } },
            stallingApp,
          );
          const run = await finished(started.json().runId);
          expect(run).toMatchObject({ state: 'succeeded', usage: { outputTokens: 6 } });
          expect(run.chargedAttempts).toEqual([
            {
              attempt: 1,
              inputTokens: expect.any(Number),
              outputTokens: expect.any(Number),
              failure: expect.stringContaining('no chunk'),
            },
          ]);
          const [stalled] = run.chargedAttempts;
          expect(run.costMicroUsd).toBe(
            costMicroUsd(simStandard, {
              inputTokens: run.usage.inputTokens + stalled.inputTokens,
              outputTokens: 6 + stalled.outputTokens,
            }),
          );
        },
        ledger.repo,
      );
    } finally {
      await stallingApp.close();
    }
  });

  it('cancels a run through the API, and answers 409 for a run that has already ended', async () => {
    await putPolicy('acme-daily', 5_000_000);
    await withWorker(async () => {
      const started = (await startRun({ simulation: { outputTokens: 200, chunkDelayMs: 50 } })).json();
      const handle = client.workflow.getHandle(runWorkflowId(started.runId));
      while ((await handle.query(runStateQuery)).state !== 'running') await delay(20);
      const cancel = () =>
        app.inject({ method: 'POST', url: `/v1/runs/${started.runId}/cancel`, headers: bearer(testTokens.acmeService) });
      const accepted = await cancel();
      expect(accepted.statusCode).toBe(202);
      expect(accepted.json()).toEqual({ runId: started.runId, cancelRequested: true, state: 'running' });
      const run = await finished(started.runId);
      expect(run.state).toBe('cancelled');
      const again = await cancel();
      expect(again.statusCode).toBe(409);
      expect(again.json().error).toMatchObject({ code: 'conflict', message: expect.stringContaining('already cancelled') });
    });
  });

  it('returns the same run for the same idempotency key and books nothing new; other parameters are a 409', async () => {
    await putPolicy('acme-daily', 5_000_000);
    await withWorker(async () => {
      const key = `order-${Math.random().toString(36).slice(2)}`;
      const first = await startRun({ idempotencyKey: key });
      expect(first.statusCode).toBe(202);
      const run = await finished(first.json().runId);
      const repeat = await startRun({ idempotencyKey: key });
      expect(repeat.statusCode).toBe(202);
      expect(repeat.json()).toMatchObject({ runId: first.json().runId, state: 'succeeded', admission: first.json().admission });
      const reservations = await ledger.connection.db.selectFrom('reservations').select('reservation_id').execute();
      expect(reservations).toEqual([{ reservation_id: `run-${run.runId}` }]);
      expect((await windowsOfRun(ledger.repo, run.runId))[0]?.spent).toBe(run.costMicroUsd);

      const changed = await startRun({ idempotencyKey: key, maxOutputTokens: 7 });
      expect(changed.statusCode).toBe(409);
      expect(changed.json().error).toMatchObject({
        code: 'conflict',
        details: { field: 'body.idempotencyKey', runId: run.runId },
      });
    });
  });

  it('lists runs through Temporal visibility with filters, cursor paging and tenant isolation', async () => {
    const tenant = `lister-${Math.random().toString(36).slice(2, 8)}`;
    await withWorker(async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const response = await postRun(
          app,
          { tenantId: tenant, principalId: 'p', messages: [{ role: 'user', content: `n${i}` }], model: 'sim-standard' },
          testTokens.admin,
        );
        ids.push(response.json().runId);
      }
      // One run of acme's own, so acme's token has something to see.
      const acmeRunId: string = (await startRun()).json().runId;
      for (const id of [...ids, acmeRunId]) await finished(id);
      const list = (query: string, token = testTokens.admin) =>
        app.inject({ method: 'GET', url: `/v1/runs?${query}`, headers: bearer(token) });
      let page = await list(`tenantId=${tenant}&state=succeeded&limit=2`);
      for (let i = 0; i < 100 && page.json().items.length < 2; i++) {
        await delay(100); // visibility is eventually consistent
        page = await list(`tenantId=${tenant}&state=succeeded&limit=2`);
      }
      expect(page.statusCode).toBe(200);
      expect(page.json().items).toHaveLength(2);
      expect(page.json().items[0]).toMatchObject({
        tenantId: tenant,
        state: 'succeeded',
        temporal: { workflowId: expect.any(String) },
      });
      const rest = await list(`tenantId=${tenant}&state=succeeded&limit=2&cursor=${page.json().nextCursor}`);
      const seen = [...page.json().items, ...rest.json().items].map((run: { runId: string }) => run.runId);
      expect(seen.sort()).toEqual([...ids].sort());
      expect((await list(`tenantId=${tenant}&state=failed`)).json().items).toEqual([]);
      expect((await list(`tenantId=${tenant}`, testTokens.acmeService)).statusCode).toBe(403);

      // Tenant isolation, unfiltered: the admin's listing shows both tenants' runs (so the other
      // tenant's runs are visible by now), acme's token shows its own run and nothing else.
      const runIds = (response: { json(): { items: { runId: string }[] } }) => response.json().items.map((run) => run.runId);
      let asAdmin = await list('limit=200');
      let asAcme = await list('limit=200', testTokens.acmeService);
      for (let i = 0; i < 100 && !(runIds(asAdmin).includes(acmeRunId) && runIds(asAcme).includes(acmeRunId)); i++) {
        await delay(100); // visibility is eventually consistent
        asAdmin = await list('limit=200');
        asAcme = await list('limit=200', testTokens.acmeService);
      }
      expect(asAdmin.statusCode).toBe(200);
      expect(runIds(asAdmin)).toEqual(expect.arrayContaining([...ids, acmeRunId]));
      expect(asAcme.statusCode).toBe(200);
      const acmeItems: { runId: string; tenantId: string }[] = asAcme.json().items;
      expect(acmeItems.length).toBeGreaterThan(0);
      expect(acmeItems.map((run) => run.runId)).toContain(acmeRunId);
      expect(acmeItems.filter((run) => run.tenantId !== 'acme')).toEqual([]);
      expect(acmeItems.filter((run) => ids.includes(run.runId))).toEqual([]);
      expect((await list('cursor=not-a-cursor')).statusCode).toBe(400);
    });
  });

  describe('approval_required budgets', () => {
    const putApprovalPolicy = () =>
      ledger.repo.putPolicy({
        policyId: 'acme-needs-approval',
        scope: { kind: 'tenant', id: 'acme' },
        metric: 'cost',
        window: 'day',
        hardLimit: 10,
        action: 'approval_required',
        enabled: true,
      });
    const decide = (runId: string, decision: 'approve' | 'deny', token = testTokens.operator, note?: string) =>
      app.inject({
        method: 'POST',
        url: `/v1/runs/${runId}/approval`,
        headers: bearer(token),
        payload: { decision, ...(note ? { note } : {}) },
      });

    it('parks the run until an operator approves it, then runs it past that policy and records the override', async () => {
      await putApprovalPolicy();
      await withWorker(async () => {
        const started = await startRun();
        expect(started.statusCode).toBe(202);
        const { runId, admission } = started.json();
        expect(started.json().state).toBe('awaiting_approval');
        expect(admission).toMatchObject({ status: 'awaiting_approval', refusal: { policyId: 'acme-needs-approval' } });

        expect((await decide(runId, 'approve', testTokens.acmeService)).statusCode).toBe(403); // operators decide
        const approved = await decide(runId, 'approve', testTokens.operator, 'quarter-end report');
        expect(approved.statusCode).toBe(200);
        expect(approved.json().approval).toMatchObject({
          decision: 'approve',
          decidedBy: 'operator',
          note: 'quarter-end report',
        });

        const run = await finished(runId);
        expect(run).toMatchObject({
          state: 'succeeded',
          admission: { status: 'admitted', reservationId: `run-${runId}:approved` },
        });
        expect(await ledger.repo.getReservation(`run-${runId}`)).toMatchObject({ state: 'refused' });
        expect(await ledger.repo.getReservation(`run-${runId}:approved`)).toMatchObject({ state: 'settled' });
        const overrides = await ledger.connection.db.selectFrom('approval_overrides').selectAll().execute();
        expect(overrides).toEqual([
          expect.objectContaining({ reservation_id: `run-${runId}:approved`, approval_id: runId, approved_by: 'operator' }),
        ]);
        expect((await decide(runId, 'approve')).statusCode).toBe(409); // that run has ended
      });
    });

    it('ends the run denied when the operator denies it', async () => {
      await putApprovalPolicy();
      await withWorker(async () => {
        const { runId } = (await startRun()).json();
        const denied = await decide(runId, 'deny', testTokens.operator, 'not this month');
        expect(denied.statusCode).toBe(200);
        const run = await finished(runId);
        expect(run).toMatchObject({
          state: 'denied',
          costMicroUsd: 0,
          error: { code: 'approval_denied', message: expect.stringContaining('not this month') },
        });
        const again = await decide(runId, 'approve');
        expect(again.statusCode).toBe(409);
        expect(again.json().error.message).toContain('is denied');
      });
    });

    it('ends the run denied when nobody decides within the approval timeout', async () => {
      await putApprovalPolicy();
      const { app: impatient, config: impatientConfig } = await buildTestApp({
        client,
        connection,
        ledger: ledger.repo,
        config: { runs: { approvalTimeoutMs: 1_000 } },
      });
      try {
        await withTestWorker(
          impatientConfig,
          async () => {
            const started = await startRun({}, impatient);
            expect(started.json().state).toBe('awaiting_approval');
            const run = await finished(started.json().runId);
            expect(run).toMatchObject({ state: 'denied', error: { code: 'approval_timeout' } });
          },
          ledger.repo,
        );
      } finally {
        await impatient.close();
      }
    });
  });

  it('refuses a model with no price with 422 naming it, and holds nothing', async () => {
    await withWorker(async () => {
      const response = await startRun({ model: 'sim-unpriced' });
      expect(response.statusCode).toBe(422);
      expect(response.json().error).toMatchObject({
        code: 'unknown_price',
        message: expect.stringContaining("No price is known for model 'sim-unpriced'"),
      });
    });
  });
});
