import type { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { spendRange } from '../../src/api/budgets/spend-range';
import { PalyraError } from '../../src/domain/errors';
import { bearer, buildTestApp, testTokens } from '../support/app';
import { ledgerDialects, openTestLedger, type TestLedger } from '../support/ledger';
import { connectTestClient } from '../support/temporal';

describe('spendRange', () => {
  const now = new Date('2026-03-10T15:42:07.123Z');
  it.each([
    [
      'daily by default: today and the 29 days before, until now',
      { bucket: 'day' },
      '2026-02-09T00:00:00.000Z',
      now.toISOString(),
    ],
    ['hourly by default: today, until now', { bucket: 'hour' }, '2026-03-10T00:00:00.000Z', now.toISOString()],
    [
      'since widened to the start of its hour',
      { bucket: 'hour', since: '2026-03-10T10:30:00Z' },
      '2026-03-10T10:00:00.000Z',
      now.toISOString(),
    ],
    [
      'since with an offset, widened to the start of its UTC day',
      { bucket: 'day', since: '2026-03-01T01:00:00+02:00' },
      '2026-02-28T00:00:00.000Z',
      now.toISOString(),
    ],
    [
      'a default since counted back from an until at midnight (exclusive, so from the day before)',
      { bucket: 'hour', until: '2026-03-05T00:00:00Z' },
      '2026-03-04T00:00:00.000Z',
      '2026-03-05T00:00:00.000Z',
    ],
    [
      'exactly 744 hours',
      { bucket: 'hour', since: '2026-01-01T00:00:00Z', until: '2026-02-01T00:00:00Z' },
      '2026-01-01T00:00:00.000Z',
      '2026-02-01T00:00:00.000Z',
    ],
    [
      'exactly 366 days',
      { bucket: 'day', since: '2024-01-01T00:00:00Z', until: '2025-01-01T00:00:00Z' },
      '2024-01-01T00:00:00.000Z',
      '2025-01-01T00:00:00.000Z',
    ],
  ] as const)('%s', (_case, query, since, until) => {
    const range = spendRange(query, now);
    expect({ since: range.since.toISOString(), until: range.until.toISOString() }).toEqual({ since, until });
  });

  it.each([
    [
      'since after until',
      { bucket: 'day', since: '2026-03-05T00:00:00Z', until: '2026-03-01T00:00:00Z' },
      'querystring.since',
      /empty/,
    ],
    [
      'since equal to until',
      { bucket: 'hour', since: '2026-03-05T00:00:00Z', until: '2026-03-05T00:00:00Z' },
      'querystring.since',
      /empty/,
    ],
    [
      '745 hours',
      { bucket: 'hour', since: '2026-01-01T00:00:00Z', until: '2026-02-01T00:00:01Z' },
      'querystring.since',
      /745 hour buckets; at most 744/,
    ],
    [
      '367 days',
      { bucket: 'day', since: '2024-01-01T00:00:00Z', until: '2025-01-02T00:00:00Z' },
      'querystring.since',
      /at most 366/,
    ],
  ] as const)('refuses %s, naming the field', (_case, query, field, message) => {
    let refusal: unknown;
    try {
      spendRange(query, now);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(PalyraError);
    expect(refusal).toMatchObject({ code: 'validation_failed', details: { field } });
    expect((refusal as Error).message).toMatch(message);
  });
});

interface Series {
  key: string;
  totalMicroUsd: number;
  points: { start: string; costMicroUsd: number; tokens: number }[];
}

/** 1 µUSD per input token, 2 per output token: cost and tokens always differ. */
const price = { inputMicroUsdPerMTok: 1_000_000, outputMicroUsdPerMTok: 2_000_000 };

describe.each(ledgerDialects())('GET /v1/budgets/spend on the %s ledger', (dialect) => {
  let client: Client;
  let connection: Connection;
  let ledger: TestLedger;
  let app: FastifyInstance;
  let clock = new Date();
  let reservations = 0;

  /** Books a reservation at `at` and settles it there too (or leaves it as `ends`). */
  async function charge(
    at: string,
    scope: { tenantId: string; modelId: string },
    usage: { inputTokens: number; outputTokens: number },
    ends: 'settled' | 'released' | 'pending' = 'settled',
  ): Promise<void> {
    const reservationId = `spend-${++reservations}`;
    clock = new Date(at);
    const outcome = await ledger.repo.reserve({
      reservationId,
      runId: `run-${reservations}`,
      scope: { ...scope, principalId: `${scope.tenantId}/svc` },
      inputTokens: usage.inputTokens,
      maxOutputTokens: Math.max(1, usage.outputTokens),
      price,
      catalogVersion: 'test',
      expiresAt: new Date(clock.getTime() + 3_600_000),
    });
    expect(outcome.status).toBe('admitted');
    if (ends === 'settled') await ledger.repo.settle({ reservationId, actual: usage });
    if (ends === 'released') await ledger.repo.release(reservationId);
  }

  const spend = (query: string, token = testTokens.admin) =>
    app.inject({ method: 'GET', url: `/v1/budgets/spend?${query}`, headers: bearer(token) });
  const march = 'since=2026-03-01T00:00:00Z&until=2026-03-04T00:00:00Z&bucket=day';
  const day = (d: number) => `2026-03-0${d}T00:00:00.000Z`;
  const keysAndTotals = (series: Series[]) => series.map((s) => [s.key, s.totalMicroUsd]);

  beforeAll(async () => {
    ({ client, connection } = await connectTestClient());
    ledger = await openTestLedger(dialect, { clock: () => clock });
    const policy = { metric: 'cost', window: 'day', hardLimit: 1_000_000_000, action: 'block', enabled: true } as const;
    await ledger.repo.putPolicy({ ...policy, policyId: 'acme-daily', scope: { kind: 'tenant', id: 'acme' } }, 'api');
    await ledger.repo.putPolicy({ ...policy, policyId: 'globex-daily', scope: { kind: 'tenant', id: 'globex' } }, 'api');
    await ledger.repo.putPolicy(
      { ...policy, policyId: 'everyone', scope: { kind: 'global' }, metric: 'tokens', window: 'month', hardLimit: 1e12 },
      'api',
    );

    await charge('2026-03-01T10:15:00.000Z', { tenantId: 'acme', modelId: 'sim-a' }, { inputTokens: 100, outputTokens: 50 }); // 200 µUSD, 150 tokens
    await charge('2026-03-01T10:45:00.000Z', { tenantId: 'acme', modelId: 'sim-b' }, { inputTokens: 10, outputTokens: 5 }); // 20, 15
    await charge('2026-03-03T23:59:59.999Z', { tenantId: 'globex', modelId: 'sim-a' }, { inputTokens: 1000, outputTokens: 0 }); // 1000, 1000
    // Outside the range (until is exclusive), and not settled: none of these count.
    await charge('2026-03-04T00:00:00.000Z', { tenantId: 'acme', modelId: 'sim-a' }, { inputTokens: 7, outputTokens: 7 });
    await charge(
      '2026-03-02T12:00:00.000Z',
      { tenantId: 'acme', modelId: 'sim-a' },
      { inputTokens: 9, outputTokens: 9 },
      'pending',
    );
    await charge(
      '2026-03-02T12:00:00.000Z',
      { tenantId: 'acme', modelId: 'sim-a' },
      { inputTokens: 9, outputTokens: 9 },
      'released',
    );
    // 22 tenants on one day, for the bound on series: tenant-NN spends NN µUSD.
    for (let n = 1; n <= 22; n++) {
      const tenantId = `tenant-${String(n).padStart(2, '0')}`;
      await charge('2026-04-01T08:00:00.000Z', { tenantId, modelId: 'sim-a' }, { inputTokens: n, outputTokens: 0 });
    }
    clock = new Date();
    ({ app } = await buildTestApp({ client, connection, ledger: ledger.repo }));
  });
  afterAll(async () => {
    await app?.close();
    await ledger?.close();
    await connection?.close();
  });

  it('charts settled spend per tenant and day, every bucket in every series', async () => {
    const response = await spend(`groupBy=tenant&${march}`, testTokens.operator);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      groupBy: 'tenant',
      bucket: 'day',
      since: day(1),
      until: day(4),
      series: [
        {
          key: 'globex',
          totalMicroUsd: 1000,
          points: [
            { start: day(1), costMicroUsd: 0, tokens: 0 },
            { start: day(2), costMicroUsd: 0, tokens: 0 },
            { start: day(3), costMicroUsd: 1000, tokens: 1000 },
          ],
        },
        {
          key: 'acme',
          totalMicroUsd: 220,
          points: [
            { start: day(1), costMicroUsd: 220, tokens: 165 },
            { start: day(2), costMicroUsd: 0, tokens: 0 },
            { start: day(3), costMicroUsd: 0, tokens: 0 },
          ],
        },
      ],
    });
  });

  it('groups by model', async () => {
    const series = (await spend(`groupBy=model&${march}`)).json().series as Series[];
    expect(keysAndTotals(series)).toEqual([
      ['sim-a', 1200],
      ['sim-b', 20],
    ]);
    expect(series[0]?.points.map((p) => p.tokens)).toEqual([150, 0, 1000]);
  });

  it('groups by the policy whose window booked it: a run under several policies counts in each', async () => {
    const series = (await spend(`groupBy=policy&${march}`)).json().series as Series[];
    expect(keysAndTotals(series)).toEqual([
      ['everyone', 1220],
      ['globex-daily', 1000],
      ['acme-daily', 220],
    ]);
  });

  it('buckets by hour from the start of the hour holding since', async () => {
    const response = await spend('groupBy=model&bucket=hour&since=2026-03-01T10:30:00Z&until=2026-03-01T12:00:00Z');
    expect(response.json()).toMatchObject({ since: '2026-03-01T10:00:00.000Z', until: '2026-03-01T12:00:00.000Z' });
    expect(response.json().series).toEqual([
      {
        key: 'sim-a',
        totalMicroUsd: 200,
        points: [
          { start: '2026-03-01T10:00:00.000Z', costMicroUsd: 200, tokens: 150 },
          { start: '2026-03-01T11:00:00.000Z', costMicroUsd: 0, tokens: 0 },
        ],
      },
      {
        key: 'sim-b',
        totalMicroUsd: 20,
        points: [
          { start: '2026-03-01T10:00:00.000Z', costMicroUsd: 20, tokens: 15 },
          { start: '2026-03-01T11:00:00.000Z', costMicroUsd: 0, tokens: 0 },
        ],
      },
    ]);
  });

  it('shows the top 20 series and sums the rest into (other)', async () => {
    const response = await spend('groupBy=tenant&bucket=day&since=2026-04-01T00:00:00Z&until=2026-04-02T00:00:00Z');
    const series = response.json().series as Series[];
    expect(keysAndTotals(series)).toEqual([
      ...Array.from({ length: 20 }, (_, i) => [`tenant-${String(22 - i).padStart(2, '0')}`, 22 - i]),
      ['(other)', 1 + 2],
    ]);
    expect(series.at(-1)?.points).toEqual([{ start: '2026-04-01T00:00:00.000Z', costMicroUsd: 3, tokens: 3 }]);
  });

  it('keeps a tenant-scoped token to its tenants, and their policies', async () => {
    const byTenant = await spend(`groupBy=tenant&${march}`, testTokens.acmeAdmin);
    expect(keysAndTotals(byTenant.json().series)).toEqual([['acme', 220]]);
    const byModel = await spend(`groupBy=model&${march}`, testTokens.acmeAdmin);
    expect(keysAndTotals(byModel.json().series)).toEqual([
      ['sim-a', 200],
      ['sim-b', 20],
    ]);
    // The global policy spans tenants, so a tenant's token does not see it (as in GET /v1/budgets/policies).
    const byPolicy = await spend(`groupBy=policy&${march}`, testTokens.acmeAdmin);
    expect(keysAndTotals(byPolicy.json().series)).toEqual([['acme-daily', 220]]);
    const foreign = await spend(`groupBy=tenant&${march}&tenantId=globex`, testTokens.acmeAdmin);
    expect(foreign.statusCode).toBe(403);
    expect(foreign.body).not.toContain('1000');
  });

  it('narrows to one tenant for an all-tenant token', async () => {
    const response = await spend(`groupBy=policy&${march}&tenantId=globex`);
    expect(keysAndTotals(response.json().series)).toEqual([
      ['everyone', 1000],
      ['globex-daily', 1000],
    ]);
  });

  it('needs the role that reads budgets (operator)', async () => {
    expect((await spend(`groupBy=tenant&${march}`, testTokens.acmeService)).statusCode).toBe(403);
  });

  it('defaults to the last 30 days by day, and to today by hour, until now', async () => {
    const now = new Date();
    clock = now;
    await charge(now.toISOString(), { tenantId: 'fresh', modelId: 'sim-a' }, { inputTokens: 3, outputTokens: 1 });
    const today = new Date(Math.floor(now.getTime() / 86_400_000) * 86_400_000);

    const daily = (await spend('groupBy=tenant&bucket=day&tenantId=fresh')).json();
    expect(daily.since).toBe(new Date(today.getTime() - 29 * 86_400_000).toISOString());
    expect(Date.parse(daily.until)).toBeGreaterThanOrEqual(now.getTime());
    const [fresh] = daily.series as Series[];
    expect(fresh?.points).toHaveLength(30);
    expect(fresh?.points.at(-1)).toEqual({ start: today.toISOString(), costMicroUsd: 5, tokens: 4 });

    const hourly = (await spend('groupBy=tenant&bucket=hour&tenantId=fresh')).json();
    expect(hourly.since).toBe(today.toISOString());
    const points = (hourly.series as Series[])[0]?.points ?? [];
    expect(points).toHaveLength(now.getUTCHours() + 1);
    expect(points.at(-1)).toMatchObject({ costMicroUsd: 5, tokens: 4 });
  });

  it.each([
    ['an unknown groupBy', 'groupBy=team&bucket=day', 'querystring.groupBy'],
    ['no groupBy', 'bucket=day', 'querystring.groupBy'],
    ['an unknown bucket', 'groupBy=tenant&bucket=week', 'querystring.bucket'],
    ['a since that is no instant', 'groupBy=tenant&bucket=day&since=yesterday', 'querystring.since'],
    ['an unknown parameter', 'groupBy=tenant&bucket=day&from=2026-03-01T00:00:00Z', 'querystring'],
  ])('refuses %s with a 400 naming the field', async (_case, query, field) => {
    const response = await spend(query);
    expect(response.statusCode).toBe(400);
    expect(response.json().error.details.issues.map((i: { field: string }) => i.field)).toContain(field);
  });

  it.each([
    ['a range past 744 hours', 'groupBy=tenant&bucket=hour&since=2026-01-01T00:00:00Z&until=2026-02-02T00:00:00Z', /at most 744/],
    ['a range past 366 days', 'groupBy=model&bucket=day&since=2025-01-01T00:00:00Z&until=2026-03-01T00:00:00Z', /at most 366/],
    ['an empty range', `groupBy=policy&bucket=day&since=2026-03-04T00:00:00Z&until=2026-03-01T00:00:00Z`, /empty/],
  ])('refuses %s with a 400 naming since', async (_case, query, message) => {
    const response = await spend(query);
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({
      code: 'validation_failed',
      details: { field: 'querystring.since', issues: [{ field: 'querystring.since' }] },
    });
    expect(response.json().error.message).toMatch(message);
  });
});
