import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOpenAICompatibleProvider } from '../../src/providers/openai-compatible';
import { createProviderRegistry } from '../../src/providers/registry';
import { ProviderError, type ProviderAdapter, type ProviderRequest } from '../../src/providers/types';

interface ReceivedRequest {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** How the loopback server answers the next request. */
type Reply = (res: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let reply: Reply;
let received: ReceivedRequest[];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (data: string) => (body += data));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body: JSON.parse(body) });
      reply(res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

beforeEach(() => {
  received = [];
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const request: ProviderRequest = {
  runId: 'run-1',
  model: 'qwen-7b',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Say hello.' },
  ],
  maxOutputTokens: 64,
  attempt: 1,
};

function contentChunk(content: string, finishReason: string | null = null, usage: object | null = null) {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'qwen-7b',
    choices: [{ index: 0, delta: { content }, finish_reason: finishReason }],
    usage,
  };
}

function usageChunk(promptTokens: number, completionTokens: number) {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'qwen-7b',
    choices: [],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  };
}

function writeEvents(res: ServerResponse, events: object[]): void {
  if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const event of events) res.write(`data: ${JSON.stringify(event)}\n\n`);
}

function sseReply(events: object[], { done = true } = {}): Reply {
  return (res) => {
    writeEvents(res, events);
    res.end(done ? 'data: [DONE]\n\n' : undefined);
  };
}

function jsonReply(status: number, body: object, headers: Record<string, string> = {}): Reply {
  return (res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
}

function localProvider(apiKeyEnv?: string): ProviderAdapter {
  return createOpenAICompatibleProvider({ id: 'local', baseUrl, apiKeyEnv });
}

async function collect(provider: ProviderAdapter, options: { signal?: AbortSignal; onChunk?: (text: string) => void } = {}) {
  const chunks: string[] = [];
  const response = await provider.stream(request, {
    signal: options.signal ?? new AbortController().signal,
    onChunk(text) {
      chunks.push(text);
      options.onChunk?.(text);
    },
  });
  return { chunks, response };
}

async function failureOf(pending: Promise<unknown>): Promise<ProviderError> {
  const error = await pending.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

async function withEnv<T>(values: Record<string, string | undefined>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(values).map((name) => [name, process.env[name]]));
  const assign = (entries: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(entries)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  assign(values);
  try {
    return await body();
  } finally {
    assign(saved);
  }
}

describe('openai-compatible provider', () => {
  it('streams content in order and reports usage from the final chunk', async () => {
    reply = sseReply([
      { ...contentChunk(''), choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
      contentChunk('Hel'),
      contentChunk('lo'),
      contentChunk(' there', 'stop'),
      usageChunk(12, 3),
    ]);
    const { chunks, response } = await collect(localProvider());
    expect(chunks).toEqual(['Hel', 'lo', ' there']);
    expect(response).toEqual({ usage: { inputTokens: 12, outputTokens: 3 }, finishReason: 'stop' });
  });

  it('sends a streaming chat completion request with usage, max_tokens, model and messages', async () => {
    reply = sseReply([contentChunk('ok', 'stop')]);
    await collect(localProvider());
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model: 'qwen-7b',
        messages: request.messages,
        max_tokens: 64,
        stream: true,
        stream_options: { include_usage: true },
      },
    });
  });

  it('reports no usage when the provider sends none, so the caller counts tokens itself', async () => {
    reply = sseReply([contentChunk('Hi'), contentChunk('!', 'stop')]);
    const { chunks, response } = await collect(localProvider());
    expect(chunks.join('')).toBe('Hi!');
    expect(response).toEqual({ usage: undefined, finishReason: 'stop' });
  });

  it('takes the last usage when the provider sends running totals on every chunk', async () => {
    reply = sseReply([
      contentChunk('a', null, { prompt_tokens: 9, completion_tokens: 1 }),
      contentChunk('b', null, { prompt_tokens: 9, completion_tokens: 2 }),
      contentChunk('c', 'stop', { prompt_tokens: 9, completion_tokens: 3 }),
    ]);
    const { response } = await collect(localProvider());
    expect(response.usage).toEqual({ inputTokens: 9, outputTokens: 3 });
  });

  it('says when the model stopped at the output limit', async () => {
    reply = sseReply([contentChunk('truncat', 'length'), usageChunk(4, 64)]);
    expect((await collect(localProvider())).response.finishReason).toBe('length');
  });

  it('fails with stream_cut when the connection drops mid-stream, after delivering what came', async () => {
    let open: ServerResponse | undefined;
    reply = (res) => {
      open = res;
      writeEvents(res, [contentChunk('partial')]);
    };
    const error = await failureOf(collect(localProvider(), { onChunk: () => open?.destroy() }));
    expect(error.kind).toBe('stream_cut');
    expect(received).toHaveLength(1);
  });

  it('fails with stream_cut when the body ends without a finish_reason or [DONE]', async () => {
    reply = sseReply([contentChunk('half an ans')], { done: false });
    const error = await failureOf(collect(localProvider()));
    expect(error).toMatchObject({ kind: 'stream_cut', message: expect.stringContaining("'local'") });
  });

  it('keeps a finished answer when the connection drops before the usage chunk', async () => {
    let open: ServerResponse | undefined;
    reply = (res) => {
      open = res;
      writeEvents(res, [contentChunk('whole', 'stop')]);
    };
    const { chunks, response } = await collect(localProvider(), { onChunk: () => setImmediate(() => open?.destroy()) });
    expect(chunks).toEqual(['whole']);
    expect(response).toEqual({ usage: undefined, finishReason: 'stop' });
  });

  it.each([
    [{ message: 'overloaded', type: 'server_error' }, 'unavailable', 'overloaded'],
    [{ message: 'Rate limit reached for requests', type: 'requests', code: 'rate_limit_exceeded' }, 'rate_limited', 'Rate limit'],
  ])('treats an error object inside a 200 stream as a failure: %j', async (errorBody, kind, message) => {
    reply = sseReply([contentChunk('par'), { error: errorBody }]);
    const error = await failureOf(collect(localProvider()));
    expect(error).toMatchObject({ kind, message: expect.stringContaining(message) });
  });

  it.each([
    ['retry-after in seconds', { 'retry-after': '7' }, 7],
    ['retry-after-ms', { 'retry-after-ms': '1500' }, 1.5],
    ['no retry-after', {}, undefined],
  ])('fails with rate_limited on HTTP 429 (%s), without retrying itself', async (_name, headers, retryAfterSeconds) => {
    reply = jsonReply(429, { error: { message: 'slow down', type: 'rate_limit_error' } }, headers);
    const error = await failureOf(collect(localProvider()));
    expect(error).toMatchObject({ kind: 'rate_limited', retryAfterSeconds, message: expect.stringContaining('slow down') });
    expect(received).toHaveLength(1);
  });

  it('converts a retry-after HTTP date into seconds from now', async () => {
    reply = jsonReply(429, { error: { message: 'slow down' } }, { 'retry-after': new Date(Date.now() + 30_000).toUTCString() });
    const error = await failureOf(collect(localProvider()));
    expect(error.kind).toBe('rate_limited');
    expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(28);
    expect(error.retryAfterSeconds).toBeLessThanOrEqual(30);
  });

  it.each([500, 502, 503, 408])('fails with unavailable on HTTP %i, without retrying itself', async (status) => {
    reply = jsonReply(status, { error: { message: 'backend down' } });
    const error = await failureOf(collect(localProvider()));
    expect(error).toMatchObject({ kind: 'unavailable', message: expect.stringContaining(`HTTP ${status}`) });
    expect(received).toHaveLength(1);
  });

  it.each([400, 401, 403, 404, 422])('rejects on HTTP %i with the server message', async (status) => {
    reply = jsonReply(status, {
      error: { message: `model 'qwen-7b' is not served here (${status})`, type: 'invalid_request_error' },
    });
    const error = await failureOf(collect(localProvider()));
    expect(error.kind).toBe('rejected');
    expect(error.message).toContain(`model 'qwen-7b' is not served here (${status})`);
  });

  it('fails with unavailable when nothing listens on the port', async () => {
    const closed = createServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const provider = createOpenAICompatibleProvider({ id: 'down', baseUrl: `http://127.0.0.1:${port}/v1` });
    const error = await failureOf(collect(provider));
    expect(error).toMatchObject({ kind: 'unavailable', message: expect.stringContaining('ECONNREFUSED') });
  });

  it('aborts mid-stream on the signal and closes the request', async () => {
    const controller = new AbortController();
    let serverSawClose: Promise<unknown> | undefined;
    reply = (res) => {
      serverSawClose = once(res, 'close');
      writeEvents(res, [contentChunk('first')]);
    };
    const chunks: string[] = [];
    const error = await failureOf(
      localProvider().stream(request, {
        signal: controller.signal,
        onChunk(text) {
          chunks.push(text);
          controller.abort();
        },
      }),
    );
    expect(error.kind).toBe('aborted');
    expect(chunks).toEqual(['first']);
    await serverSawClose;
  });

  it('aborts while waiting for the response headers', async () => {
    const controller = new AbortController();
    let serverSawClose: Promise<unknown> | undefined;
    reply = (res) => {
      serverSawClose = once(res, 'close');
      controller.abort();
    };
    const error = await failureOf(collect(localProvider(), { signal: controller.signal }));
    expect(error.kind).toBe('aborted');
    await serverSawClose;
  });

  it('sends the API key from the environment variable named by apiKeyEnv', async () => {
    reply = sseReply([contentChunk('ok', 'stop')]);
    await withEnv({ PALYRA_TEST_LOCAL_KEY: 'sk-local-123' }, () => collect(localProvider('PALYRA_TEST_LOCAL_KEY')));
    expect(received[0]?.headers.authorization).toBe('Bearer sk-local-123');
  });

  it('rejects before calling the provider when the apiKeyEnv variable is not set', async () => {
    const error = await withEnv({ PALYRA_TEST_LOCAL_KEY: undefined }, () =>
      failureOf(collect(localProvider('PALYRA_TEST_LOCAL_KEY'))),
    );
    expect(error).toMatchObject({ kind: 'rejected', message: expect.stringContaining('PALYRA_TEST_LOCAL_KEY') });
    expect(received).toHaveLength(0);
  });

  it('sends a placeholder key without apiKeyEnv, never the OpenAI key or organization from the environment', async () => {
    reply = sseReply([contentChunk('ok', 'stop')]);
    await withEnv({ OPENAI_API_KEY: 'sk-real-openai-key', OPENAI_ORG_ID: 'org-real' }, () => collect(localProvider()));
    expect(received[0]?.headers.authorization).toMatch(/^Bearer \S+$/);
    expect(received[0]?.headers.authorization).not.toContain('sk-real-openai-key');
    expect(received[0]?.headers['openai-organization']).toBeUndefined();
  });
});

describe('provider registry', () => {
  it('serves openai-compatible providers with this adapter, wired to their config', async () => {
    const registry = createProviderRegistry([
      { id: 'x', kind: 'openai-compatible', baseUrl, apiKeyEnv: 'PALYRA_TEST_REGISTRY_KEY' },
    ]);
    expect(registry.unavailable.size).toBe(0);
    const adapter = registry.get('x');
    expect(adapter).toMatchObject({ id: 'x', kind: 'openai-compatible' });

    reply = sseReply([contentChunk('via registry', 'stop')]);
    const { chunks } = await withEnv({ PALYRA_TEST_REGISTRY_KEY: 'sk-registry' }, () => collect(adapter as ProviderAdapter));
    expect(chunks).toEqual(['via registry']);
    expect(received[0]?.headers.authorization).toBe('Bearer sk-registry');
  });
});
