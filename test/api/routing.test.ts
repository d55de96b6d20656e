import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { PalyraConfig } from '../../src/config';
import { costMicroUsd } from '../../src/domain/pricing';
import { circuitOverrideCacheTtlMs } from '../../src/route-planner/health';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';
import type { TestLedger } from '../support/ledger';
import { expectBooksClosed, postRun, waitForRunEnd } from '../support/runs';
import { withTestWorker } from '../support/temporal';

/** The default models: sim-small (16k context, $0.15/$0.60), sim-standard (128k, $2.50/$10), sim-premium. */
const simSmall = { inputMicroUsdPerMTok: 150_000, outputMicroUsdPerMTok: 600_000 };

let client: Client;
let stack: TestStack;
let ledger: TestLedger;
let app: FastifyInstance;
let config: PalyraConfig;

beforeAll(async () => {
  stack = await openTestStack({ routing: { mode: 'enforced' } });
  ({ client, ledger, app, config } = stack);
});
afterEach(async () => {
  await expectBooksClosed(ledger);
});
afterAll(() => stack.close());

const message = (content: string) => [{ role: 'user', content }];

const finished = (runId: string) => waitForRunEnd(app, runId);

describe('routing', () => {
  it('plans without starting anything, excluding a model whose context window the prompt does not fit', async () => {
    const prompt = 'lorem ipsum dolor sit amet '.repeat(4_000); // ~20k tokens: more than sim-small's 16k window
    const response = await app.inject({
      method: 'POST',
      url: '/v1/routing/plan',
      headers: bearer(testTokens.acmeService),
      payload: {
        tenantId: 'acme',
        principalId: 'svc',
        taskClass: 'primary_interactive',
        messages: message(prompt),
        model: 'sim-small',
      },
    });
    expect(response.statusCode).toBe(200);
    const plan = response.json();
    expect(plan).toMatchObject({ mode: 'enforced', requestedModel: 'sim-small', action: 'proceed' });
    expect(plan.selectedModel).not.toBe('sim-small');
    expect(plan.candidates.find((c: { modelId: string }) => c.modelId === 'sim-small')).toMatchObject({
      eligible: false,
      excludedBecause: 'context_window_exceeded',
    });
    expect(plan.explanations.join(' ')).toContain('sim-small');
    const stored = await ledger.repo.getRoutingDecision(plan.decisionId);
    expect(stored?.selectedModel).toBe(plan.selectedModel);

    const invalid = await app.inject({
      method: 'POST',
      url: '/v1/routing/plan',
      headers: bearer(testTokens.acmeService),
      payload: { tenantId: 'acme', principalId: 'svc', taskClass: 'auxiliary_poetry', messages: message('hi') },
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().error.message).toContain('taskClass');
  });

  it('refuses a run no configured model can take with 422 no_route and the reason', async () => {
    await withTestWorker(
      config,
      async () => {
        const response = await postRun(app, {
          principalId: 'svc',
          messages: message(' 7'.repeat(210_000)), // ~210k tokens: above every model's context window
          simulation: { outputTokens: 1, chunkDelayMs: 0 },
        });
        expect(response.statusCode).toBe(422);
        expect(response.json().error).toMatchObject({ code: 'no_route', message: expect.stringContaining('context window') });
        const run = await finished(response.json().error.details.runId);
        expect(run).toMatchObject({ state: 'failed', error: { code: 'no_route' }, routing: { action: 'blocked' } });
      },
      ledger.repo,
    );
  });

  it('applies a downgrade budget in suggest mode: plan and run both move to the cheapest fitting model', async () => {
    await ledger.repo.putPolicy({
      policyId: 'svc-downgrade',
      scope: { kind: 'principal', id: 'acme/svc' },
      metric: 'cost',
      window: 'day',
      hardLimit: 5_000, // sim-premium at 1000 output tokens needs > 75,000 µUSD; sim-small about 600
      action: 'downgrade',
      enabled: true,
    });
    const request = {
      principalId: 'svc',
      messages: message('summarise our spending'),
      model: 'sim-premium',
      maxOutputTokens: 1_000,
      routingMode: 'suggest',
    };
    try {
      const planned = await app.inject({
        method: 'POST',
        url: '/v1/routing/plan',
        headers: bearer(testTokens.acmeService),
        payload: { tenantId: 'acme', taskClass: 'primary_interactive', ...request },
      });
      expect(planned.statusCode).toBe(200);
      const plan = planned.json();
      expect(plan).toMatchObject({
        mode: 'suggest',
        requestedModel: 'sim-premium',
        recommendedModel: 'sim-small',
        selectedModel: 'sim-small',
        action: 'degrade',
      });
      expect(plan.reasonCodes).toEqual(['mode_overridden', 'budget_downgrade', 'budget_action_applied']);
      expect(plan.explanations.at(-1)).toBe(
        "A budget action is the operator's instruction, not a routing suggestion, so mode suggest applies the downgrade: the run moves from sim-premium to sim-small.",
      );

      await withTestWorker(
        config,
        async () => {
          const started = await postRun(app, { ...request, simulation: { outputTokens: 10, chunkDelayMs: 0 } });
          expect(started.statusCode).toBe(202);
          expect(started.json()).toMatchObject({
            model: { requested: 'sim-premium', selected: 'sim-small' },
            admission: { status: 'admitted', modelId: 'sim-small', clamped: false },
          });
          const run = await finished(started.json().runId);
          expect(run).toMatchObject({
            state: 'succeeded',
            model: { requested: 'sim-premium', selected: 'sim-small' },
            routing: { mode: 'suggest', action: 'degrade', selectedModel: 'sim-small' },
          });
          expect(run.routing.reasonCodes).toContain('budget_action_applied');
          expect(run.costMicroUsd).toBe(costMicroUsd(simSmall, run.usage));
        },
        ledger.repo,
      );
    } finally {
      await ledger.repo.deletePolicy('svc-downgrade');
    }
  });

  it('keeps a downgraded run on its model when nothing cheaper fits, and admission clamps its output', async () => {
    await ledger.repo.putPolicy({
      policyId: 'svc-downgrade-small',
      scope: { kind: 'principal', id: 'acme/svc' },
      metric: 'cost',
      window: 'day',
      hardLimit: 300, // sim-small at 1000 output tokens needs about 600 µUSD; the prompt and ~490 output tokens fit
      action: 'downgrade',
      enabled: true,
    });
    try {
      await withTestWorker(
        config,
        async () => {
          const started = await postRun(app, {
            principalId: 'svc',
            messages: message('summarise our spending'),
            model: 'sim-small',
            maxOutputTokens: 1_000,
            routingMode: 'suggest',
            simulation: { outputTokens: 10, chunkDelayMs: 0 },
          });
          expect(started.statusCode).toBe(202);
          expect(started.json()).toMatchObject({
            model: { requested: 'sim-small', selected: 'sim-small' },
            admission: { status: 'admitted', modelId: 'sim-small', clamped: true },
          });
          expect(started.json().admission.maxOutputTokens).toBeLessThan(1_000);
          const run = await finished(started.json().runId);
          expect(run).toMatchObject({ state: 'succeeded', routing: { mode: 'suggest', selectedModel: 'sim-small' } });
          expect(run.routing.reasonCodes).toEqual(['mode_overridden', 'no_cheaper_model']);
          expect(run.routing.explanations.at(-1)).toContain(
            'so the run stays on sim-small: admission clamps its output to what the budget still holds',
          );
        },
        ledger.repo,
      );
    } finally {
      await ledger.repo.deletePolicy('svc-downgrade-small');
    }
  });

  it('moves a run to the cheapest fitting model when a downgrade budget would refuse the requested one', async () => {
    await ledger.repo.putPolicy({
      policyId: 'acme-downgrade',
      scope: { kind: 'tenant', id: 'acme' },
      metric: 'cost',
      window: 'day',
      hardLimit: 5_000, // sim-standard at 1000 output tokens needs > 10,000 µUSD; sim-small about 600
      action: 'downgrade',
      enabled: true,
    });
    try {
      await withTestWorker(
        config,
        async () => {
          const started = await postRun(app, {
            principalId: 'svc',
            messages: message('summarise our spending'),
            model: 'sim-standard',
            maxOutputTokens: 1_000,
            simulation: { outputTokens: 10, chunkDelayMs: 0 },
          });
          expect(started.statusCode).toBe(202);
          // The answer already names the model the run was admitted on.
          expect(started.json()).toMatchObject({
            model: { requested: 'sim-standard', selected: 'sim-small' },
            admission: { status: 'admitted', modelId: 'sim-small' },
          });
          const run = await finished(started.json().runId);
          expect(run).toMatchObject({
            state: 'succeeded',
            model: { requested: 'sim-standard', selected: 'sim-small' },
            routing: { action: 'degrade', recommendedModel: 'sim-small', selectedModel: 'sim-small' },
          });
          expect(run.routing.reasonCodes).toContain('budget_downgrade');
          expect(run.costMicroUsd).toBe(costMicroUsd(simSmall, run.usage));
          expect(await ledger.repo.getRoutingDecision(run.runId)).toMatchObject({
            action: 'degrade',
            selectedModel: 'sim-small',
          });
          const description = await client.workflow.getHandle(`run-${run.runId}`).describe();
          expect(description.searchAttributes.PalyraModel).toEqual(['sim-small']);
          expect(description.searchAttributes.PalyraTaskClass).toEqual(['primary_interactive']);
        },
        ledger.repo,
      );
    } finally {
      await ledger.repo.deletePolicy('acme-downgrade');
    }
  });
});

describe('installation-wide provider circuit overrides', () => {
  /** Two providers: the default `simulated` one and a `backup` with a standard model of its own. */
  let overrides: TestStack;

  beforeAll(async () => {
    overrides = await openTestStack({
      routing: { mode: 'enforced' },
      providers: [
        { id: 'simulated', kind: 'simulated' },
        { id: 'backup', kind: 'simulated' },
      ],
      models: [
        { id: 'sim-standard', provider: 'simulated', pricing: { inputPerMTokUsd: 2.5, outputPerMTokUsd: 10 } },
        { id: 'backup-standard', provider: 'backup', pricing: { inputPerMTokUsd: 3, outputPerMTokUsd: 12 } },
      ],
    });
  });
  afterAll(() => overrides?.close());

  const plan = () =>
    overrides.app.inject({
      method: 'POST',
      url: '/v1/routing/plan',
      headers: bearer(testTokens.acmeService),
      payload: {
        tenantId: 'acme',
        principalId: 'svc',
        taskClass: 'primary_interactive',
        messages: message('hi'),
        model: 'sim-standard',
      },
    });

  it('routes plans and runs around a provider whose circuit an incident opened, until it closes', async () => {
    const repo = overrides.ledger.repo;
    expect((await plan()).json()).toMatchObject({ selectedModel: 'sim-standard', action: 'proceed' });

    await repo.openProviderCircuit({
      providerId: 'simulated',
      openUntil: new Date(Date.now() + 10 * 60_000),
      reason: 'retry storm on sim-standard',
      by: 'supervisor',
      incidentId: 'incident-00000000000000aa',
    });
    // Opened by another process's incident: routing sees it within the cache's lifetime.
    await delay(circuitOverrideCacheTtlMs);
    const planned = (await plan()).json();
    expect(planned).toMatchObject({ requestedModel: 'sim-standard', selectedModel: 'backup-standard', action: 'failover' });
    expect(planned.reasonCodes).toEqual(expect.arrayContaining(['provider_open', 'failover']));
    expect(planned.candidates.find((c: { modelId: string }) => c.modelId === 'sim-standard')).toMatchObject({
      eligible: false,
      excludedBecause: 'provider_open',
    });

    await withTestWorker(
      overrides.config,
      async () => {
        const started = await postRun(overrides.app, {
          principalId: 'svc',
          messages: message('hello'),
          model: 'sim-standard',
          simulation: { outputTokens: 5, chunkDelayMs: 0 },
        });
        expect(started.statusCode).toBe(202);
        const run = await waitForRunEnd(overrides.app, started.json().runId);
        expect(run).toMatchObject({ state: 'succeeded', model: { requested: 'sim-standard', selected: 'backup-standard' } });
        expect(run.routing.reasonCodes).toContain('provider_open');
      },
      repo,
    );

    expect(await repo.closeProviderCircuit('simulated')).toBe(true);
    await delay(circuitOverrideCacheTtlMs);
    expect((await plan()).json()).toMatchObject({ selectedModel: 'sim-standard', action: 'proceed' });
    await expectBooksClosed(overrides.ledger);
  });
});
