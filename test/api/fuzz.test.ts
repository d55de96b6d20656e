import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';
import type * as routeTable from '../support/route-table';
import { recordedRoutes, routeKey, type RecordedRoute } from '../support/route-table';

jest.mock('fastify', () =>
  jest.requireActual<typeof routeTable>('../support/route-table').routeRecordingFastify(jest.requireActual('fastify')),
);

/** Fixed so a failure replays; set PALYRA_FUZZ_SEED to explore further. */
const seed = Number(process.env.PALYRA_FUZZ_SEED ?? 0x5a1_7a);
const runsPerRoute = 40;

interface BodyTarget {
  /** The path with its parameters filled (ids that need not exist: validation runs first). */
  url: string;
  /** A body the schema accepts, the seed of the mutations. */
  valid: Record<string, unknown>;
  /** Whether bodies the schema accepts may be sent; false where they would start real work. */
  sendValid: boolean;
}

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

/** Every route with a body schema. A new one without an entry fails, naming it. */
const targets: Record<string, BodyTarget> = {
  'POST /v1/runs': {
    url: '/v1/runs',
    valid: {
      tenantId: 'acme',
      principalId: 'svc-fuzz',
      messages: [{ role: 'user', content: 'fuzz' }],
      simulation: { outputTokens: 2, chunkDelayMs: 0 },
      backgroundTasks: [{ kind: 'summary', input: { text: 'fuzz' }, notBefore: inAnHour() }],
    },
    sendValid: true,
  },
  'POST /v1/runs/:runId/approval': {
    url: `/v1/runs/${randomUUID()}/approval`,
    valid: { decision: 'deny', note: 'fuzz' },
    sendValid: true,
  },
  'POST /v1/runs/:runId/tasks': {
    url: `/v1/runs/${randomUUID()}/tasks`,
    valid: {
      backgroundTasks: [{ kind: 'classification', input: { text: 'fuzz', labels: ['a', 'b'] }, priority: 1, maxAttempts: 2 }],
    },
    sendValid: true,
  },
  'POST /v1/tasks/:taskId/:action': {
    url: `/v1/tasks/${randomUUID()}-1/retry`,
    valid: { expiresAt: inAnHour() },
    sendValid: true,
  },
  'POST /v1/incidents/:incidentId/actions': {
    url: '/v1/incidents/incident-00000000000000ff/actions',
    valid: { action: 'resolve', note: 'fuzz' },
    sendValid: true,
  },
  'PUT /v1/budgets/policies/:policyId': {
    url: '/v1/budgets/policies/fuzz-policy',
    valid: { scope: { kind: 'tenant', id: 'acme' }, metric: 'tokens', window: 'week', softLimit: 10, hardLimit: 100 },
    sendValid: true,
  },
  'PUT /v1/pricing/overrides/:modelId': {
    url: '/v1/pricing/overrides/fuzz-model',
    valid: { inputPerMTokUsd: 0.5, outputPerMTokUsd: 1.5 },
    sendValid: true,
  },
  'POST /v1/routing/plan': {
    url: '/v1/routing/plan',
    valid: { tenantId: 'acme', principalId: 'svc-fuzz', messages: [{ role: 'user', content: 'fuzz' }], jsonMode: true },
    sendValid: true,
  },
  // A valid body starts `palyra doctor` against the shared dev server (admin: even a repair).
  'POST /console/v1/doctor/jobs': { url: '/console/v1/doctor/jobs', valid: { mode: 'diagnostics' }, sendValid: false },
};

/** JSON-ish values of every shape: scalars at the edges, unicode, nesting. */
const anyJson = fc.oneof(
  fc.jsonValue({ maxDepth: 6 }),
  fc.constantFrom(0, -1, 1e308, -0, 2 ** 53 + 1, '', ' ', '\u0000', '💥'.repeat(4), null, true, [], {}),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.integer({ min: 1, max: 400 }).map((depth) => nested(depth)),
);

function nested(depth: number): unknown {
  let value: unknown = 'core';
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { deeper: value };
  return value;
}

/** Long strings, bounded below the body limit's reach and just past the fields' own maxima. */
const longString = fc.oneof(
  fc.integer({ min: 0, max: 5 }).map((k) => 'x'.repeat([129, 201, 257, 1_001, 2_001, 600 * 1024][k] as number)),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 300 }),
);

type Mutation = (body: Record<string, unknown>) => fc.Arbitrary<unknown>;

/** Mutations of a valid body, applied at the top level or inside one nested object or array. */
const mutations: Mutation[] = [
  (body) => fc.constantFrom(...Object.keys(body)).map((key) => omit(body, key)),
  (body) => fc.tuple(fc.constantFrom(...Object.keys(body)), anyJson).map(([key, value]) => ({ ...body, [key]: value })),
  (body) => fc.tuple(fc.constantFrom(...Object.keys(body)), longString).map(([key, value]) => ({ ...body, [key]: value })),
  (body) => fc.tuple(fc.string({ maxLength: 20 }), anyJson).map(([key, value]) => ({ ...body, [key]: value })),
  (body) => fc.tuple(fc.constantFrom(...Object.keys(body)), anyJson).map(([key, value]) => deepSet(body, key, value)),
  (body) => fc.tuple(fc.constantFrom(...Object.keys(body)), longString).map(([key, value]) => deepSet(body, key, value)),
];

function omit(body: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _dropped, ...rest } = body;
  return rest;
}

/** `body` with `value` put under `key` in the first nested object (first array element included). */
function deepSet(body: unknown, key: string, value: unknown): unknown {
  if (Array.isArray(body)) return body.length > 0 ? [deepSet(body[0], key, value), ...body.slice(1)] : [value];
  if (body === null || typeof body !== 'object') return value;
  const record = body as Record<string, unknown>;
  const child = Object.keys(record).find((k) => typeof record[k] === 'object' && record[k] !== null);
  if (child === undefined) return { ...record, [key]: value };
  return { ...record, [child]: deepSet(record[child], key, value) };
}

/** A request body: anything, a mutated valid body, the valid body, or text that is not JSON. */
function bodies(target: BodyTarget): fc.Arbitrary<{ json: unknown } | { raw: string }> {
  const mutated = fc.oneof(...mutations.map((mutate) => mutate(target.valid)));
  return fc.oneof(
    { weight: 2, arbitrary: anyJson.map((json) => ({ json })) },
    { weight: 5, arbitrary: mutated.map((json) => ({ json })) },
    { weight: 1, arbitrary: fc.constant({ json: target.valid }) },
    { weight: 1, arbitrary: fc.string({ maxLength: 100 }).map((text) => ({ raw: `{${text}` })) },
  );
}

let stack: TestStack;

beforeAll(async () => {
  // No worker polls this config's task queue: a valid start is answered 202 once admission waited.
  stack = await openTestStack({
    server: {
      failedAuth: { threshold: 100_000, windowMs: 60_000, maxDelayMs: 1_000 },
      rateLimit: { max: 100_000, timeWindowMs: 60_000 },
    },
    runs: { admissionWaitMs: 300 },
  });
});
afterAll(() => stack?.close());

function bodyRoutes(): RecordedRoute[] {
  return recordedRoutes(stack.app).filter((route) => route.body !== undefined);
}

describe('request bodies', () => {
  it('has a fuzz target for every route with a body schema', () => {
    const keys = bodyRoutes().map(routeKey);
    expect({
      missing: keys.filter((key) => !(key in targets)),
      stale: Object.keys(targets).filter((key) => !keys.includes(key)),
    }).toEqual({ missing: [], stale: [] });
  });

  it.each(Object.keys(targets))('%s answers arbitrary bodies without a 5xx, in the one error shape', async (key) => {
    const route = bodyRoutes().find((candidate) => routeKey(candidate) === key) as RecordedRoute;
    const target = targets[key] as BodyTarget;
    const schema = route.body as NonNullable<RecordedRoute['body']>;
    expect(schema.safeParse(target.valid).success).toBe(true);

    const send = (body: { json: unknown } | { raw: string }): Promise<LightMyRequestResponse> =>
      stack.app.inject({
        method: route.method as 'POST',
        url: target.url,
        headers: { ...bearer(testTokens.admin), 'content-type': 'application/json' },
        payload: 'raw' in body ? body.raw : JSON.stringify(body.json),
      });

    const arbitrary = target.sendValid
      ? bodies(target)
      : bodies(target).filter((body) => 'raw' in body || !schema.safeParse(body.json).success);
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(arbitrary, async (body) => {
        const response = await send(body);
        statuses.add(response.statusCode);
        const described = `${route.method} ${target.url} → ${response.statusCode} ${response.body.slice(0, 400)}`;
        if (response.statusCode >= 500) throw new Error(`server error: ${described}`);
        if (response.statusCode >= 400) {
          const error = (response.json() as { error?: { code?: unknown; message?: unknown } }).error;
          if (typeof error?.code !== 'string' || typeof error.message !== 'string') {
            throw new Error(`error without the { error: { code, message } } shape: ${described}`);
          }
        }
      }),
      { numRuns: runsPerRoute, seed },
    );
    // Both sides of validation were reached: refusals, and (where sent) bodies the handler acted on.
    expect(statuses.has(400)).toBe(true);
    if (target.sendValid) expect([...statuses].some((status) => status !== 400)).toBe(true);
  });
});
