import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { backgroundTaskWorkflowId, runWorkflowId } from '../../src/temporal/contracts';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';
import { postRun, waitForRunEnd } from '../support/runs';
import { startTestWorker } from '../support/temporal';

/**
 * An OpenAI-compatible server that answers 401 and echoes the API key it was sent (as real ones
 * do, in part or whole): the key reaches no run or task document, no listing and no workflow history.
 */
const apiKey = 'sk-echoed-provider-key-0123456789abcdef';
const keyEnv = 'PALYRA_ECHO_TEST_KEY';

let server: Server;
let stack: TestStack;
let app: FastifyInstance;
let worker: { stop(): Promise<void> };

beforeAll(async () => {
  process.env[keyEnv] = apiKey;
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: {
            message: `Incorrect API key provided: ${req.headers.authorization?.replace('Bearer ', '')}`,
            type: 'invalid_request_error',
            code: 'invalid_api_key',
          },
        }),
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  stack = await openTestStack({
    providers: [
      { id: 'simulated', kind: 'simulated' },
      { id: 'echo', kind: 'openai-compatible', baseUrl, apiKeyEnv: keyEnv },
    ],
    models: [
      {
        id: 'echo-model',
        provider: 'echo',
        tier: 'standard',
        contextWindow: 32_000,
        maxOutputTokens: 512,
        pricing: { inputPerMTokUsd: 1, outputPerMTokUsd: 4 },
      },
      {
        id: 'sim-standard',
        provider: 'simulated',
        tier: 'standard',
        contextWindow: 128_000,
        maxOutputTokens: 4_096,
        pricing: { inputPerMTokUsd: 2.5, outputPerMTokUsd: 10 },
      },
    ],
    routing: { defaultModel: 'sim-standard' },
  });
  app = stack.app;
  worker = await startTestWorker(stack.config, stack.ledger.repo);
});
afterAll(async () => {
  await worker?.stop();
  await stack?.close();
  server.closeAllConnections();
  server.close();
  delete process.env[keyEnv];
});

it('scrubs the echoed key from the run, its task, the listings and the histories', async () => {
  const started = await postRun(app, {
    principalId: 'svc',
    model: 'echo-model',
    messages: [{ role: 'user', content: 'hello' }],
    backgroundTasks: [{ kind: 'summary', input: { text: 'summarize this' }, model: 'echo-model', maxAttempts: 1 }],
  });
  expect(started.statusCode).toBe(202);
  const runId = started.json().runId as string;
  const run = await waitForRunEnd(app, runId);
  expect(run.state).toBe('failed');
  expect(run.error.message).toContain('[redacted]');

  let task;
  for (let i = 0; i < 100; i++) {
    task = (await app.inject({ method: 'GET', url: `/v1/tasks/${runId}-1`, headers: bearer(testTokens.admin) })).json();
    if (['failed', 'cancelled', 'succeeded', 'expired'].includes(task.state)) break;
    await delay(100);
  }
  const listing = (await app.inject({ method: 'GET', url: '/v1/runs?limit=50', headers: bearer(testTokens.admin) })).body;
  const histories = await Promise.all(
    [runWorkflowId(runId), backgroundTaskWorkflowId(`${runId}-1`)].map(async (id) =>
      JSON.stringify(
        await stack.client.workflow
          .getHandle(id)
          .fetchHistory()
          .catch(() => ({})),
      ),
    ),
  );
  for (const text of [JSON.stringify(run), JSON.stringify(task), listing, ...histories]) expect(text).not.toContain(apiKey);
  // The provider did echo it: the scrubbing is what kept it out.
  expect(histories.join('')).toContain('Incorrect API key provided');
});

it('refuses a simulated task without a model when routing could send it to a real provider', async () => {
  const response = await postRun(app, {
    principalId: 'svc',
    model: 'sim-standard',
    simulation: { outputTokens: 2, chunkDelayMs: 0 },
    messages: [{ role: 'user', content: 'hello' }],
    backgroundTasks: [{ kind: 'summary', input: { text: 'summarize this' }, simulation: { outputTokens: 2, chunkDelayMs: 0 } }],
  });
  expect(response.statusCode).toBe(400);
  expect(response.json().error).toMatchObject({
    message: expect.stringContaining('body.backgroundTasks.0.model: a task with simulation options must name a model'),
    details: { field: 'body.backgroundTasks.0.model' },
  });
});
