import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { PalyraConfig } from '../../src/config';
import { costMicroUsd } from '../../src/domain/pricing';
import { openTestStack, type TestStack } from '../support/app';
import type { TestLedger } from '../support/ledger';
import { expectBooksClosed, postRun, waitForRunEnd, windowsOfRun } from '../support/runs';
import { withTestWorker } from '../support/temporal';

/**
 * Governed runs against an OpenAI-compatible server on loopback that speaks the real SSE format:
 * the run is charged from the usage the server reports, or from our own count when it reports none.
 */
const price = { inputMicroUsdPerMTok: 1_000_000, outputMicroUsdPerMTok: 4_000_000 };
const words = ['Budgets', ' are', ' hard', ' caps', '.'];

let server: Server;
let baseUrl: string;
let answer: (res: ServerResponse, attempt: number) => void;
let requests = 0;

const sse = (res: ServerResponse, events: unknown[]) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const event of events) res.write(`data: ${JSON.stringify(event)}\n\n`);
  res.end('data: [DONE]\n\n');
};
const chunk = (content: string | null, finishReason: string | null = null, usage: object | null = null) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'loop-model',
  choices: content === null ? [] : [{ index: 0, delta: { content }, finish_reason: finishReason }],
  usage,
});
const streamWith = (usage: object | null) => (res: ServerResponse) =>
  sse(res, [
    ...words.map((w, i) => chunk(w, i === words.length - 1 ? 'stop' : null)),
    ...(usage ? [chunk(null, null, usage)] : []),
  ]);

let stack: TestStack;
let ledger: TestLedger;
let app: FastifyInstance;
let config: PalyraConfig;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(res, ++requests));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  stack = await openTestStack({
    providers: [{ id: 'loop', kind: 'openai-compatible', baseUrl }],
    models: [
      {
        id: 'loop-model',
        provider: 'loop',
        tier: 'standard',
        contextWindow: 32_000,
        maxOutputTokens: 512,
        pricing: { inputPerMTokUsd: 1, outputPerMTokUsd: 4 },
      },
    ],
    routing: { defaultModel: 'loop-model' },
  });
  ({ ledger, app, config } = stack);
});
afterAll(async () => {
  await stack.close();
  server.closeAllConnections();
  server.close();
});
beforeEach(() => {
  requests = 0;
});
afterEach(async () => {
  await expectBooksClosed(ledger);
});

async function runToEnd() {
  const started = await postRun(app, {
    principalId: 'svc',
    messages: [{ role: 'user', content: 'What are budgets?' }],
    maxOutputTokens: 100,
  });
  expect(started.statusCode).toBe(202);
  return waitForRunEnd(app, started.json().runId);
}

describe('governed runs on an OpenAI-compatible provider', () => {
  it('charges exactly the usage the server reports', async () => {
    answer = streamWith({ prompt_tokens: 21, completion_tokens: 5, total_tokens: 26 });
    const run = await withTestWorker(config, runToEnd, ledger.repo);
    expect(run).toMatchObject({
      state: 'succeeded',
      output: words.join(''),
      usage: { inputTokens: 21, outputTokens: 5, estimated: false },
    });
    expect(run.costMicroUsd).toBe(costMicroUsd(price, { inputTokens: 21, outputTokens: 5 }));
  });

  it('counts tokens itself, marked estimated and never zero, when the server reports no usage', async () => {
    answer = streamWith(null);
    const run = await withTestWorker(config, runToEnd, ledger.repo);
    expect(run.state).toBe('succeeded');
    expect(run.usage.estimated).toBe(true);
    expect(run.usage.inputTokens).toBeGreaterThan(0);
    expect(run.usage.outputTokens).toBeGreaterThan(0);
    expect(run.costMicroUsd).toBe(costMicroUsd(price, run.usage));
  });

  it('retries HTTP 500 twice and charges the successful attempt once', async () => {
    await ledger.repo.putPolicy({
      policyId: 'acme-retries',
      scope: { kind: 'tenant', id: 'acme' },
      metric: 'cost',
      window: 'day',
      hardLimit: 1_000_000,
      action: 'block',
      enabled: true,
    });
    answer = (res, attempt) => {
      if (attempt <= 2) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'upstream overloaded', type: 'server_error' } }));
      } else streamWith({ prompt_tokens: 21, completion_tokens: 5, total_tokens: 26 })(res);
    };
    const run = await withTestWorker(config, runToEnd, ledger.repo);
    expect(requests).toBe(3);
    expect(run).toMatchObject({ state: 'succeeded', usage: { inputTokens: 21, outputTokens: 5 } });
    const records = await ledger.connection.db
      .selectFrom('usage_records')
      .select('amount')
      .where('run_id', '=', run.runId)
      .execute();
    expect(records).toEqual([{ amount: run.costMicroUsd }]); // booked once, for the attempt that answered
    expect((await windowsOfRun(ledger.repo, run.runId)).find((w) => w.policyId === 'acme-retries')).toMatchObject({
      spent: run.costMicroUsd,
      reserved: 0,
    });
  });
});
