import { simulatedText } from '../../src/domain/simulated-stream';
import { createSimulatedProvider } from '../../src/providers/simulated';
import { ProviderError, type ProviderRequest } from '../../src/providers/types';

const provider = createSimulatedProvider('simulated');

function request(overrides: Partial<ProviderRequest> = {}): ProviderRequest {
  return {
    runId: 'run-1',
    model: 'sim-small',
    messages: [{ role: 'user', content: 'three little words' }],
    maxOutputTokens: 100,
    simulation: { outputTokens: 6, chunkDelayMs: 0 },
    attempt: 1,
    ...overrides,
  };
}

async function collect(req: ProviderRequest, signal = new AbortController().signal) {
  const chunks: string[] = [];
  const response = await provider.stream(req, { signal, onChunk: (text) => chunks.push(text) });
  return { chunks, response };
}

describe('simulated provider', () => {
  it('streams the same tokens for the same run, one chunk per token, and reports usage', async () => {
    const { chunks, response } = await collect(request());
    expect(chunks).toHaveLength(6);
    expect(chunks.join('')).toBe(simulatedText('run-1', 6));
    expect((await collect(request())).chunks).toEqual(chunks);
    expect(response).toEqual({ usage: { inputTokens: 7, outputTokens: 6 }, finishReason: 'stop' });
  });

  it('stops at maxOutputTokens and says so', async () => {
    const { chunks, response } = await collect(request({ maxOutputTokens: 4 }));
    expect(chunks).toHaveLength(4);
    expect(response.finishReason).toBe('length');
  });

  it.each([
    ['http_429', 'rate_limited'],
    ['http_500', 'unavailable'],
    ['stream_cut', 'stream_cut'],
  ] as const)('fails with %s for the first failAttempts attempts, then succeeds', async (failure, kind) => {
    const simulation = { outputTokens: 6, chunkDelayMs: 0, failAttempts: 2, failure };
    for (const attempt of [1, 2]) {
      const error = await collect(request({ simulation, attempt })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ProviderError);
      expect((error as ProviderError).kind).toBe(kind);
    }
    expect((await collect(request({ simulation, attempt: 3 }))).chunks).toHaveLength(6);
  });

  it('stops a stalled stream as soon as it is aborted', async () => {
    const controller = new AbortController();
    const chunks: string[] = [];
    const started = Date.now();
    const pending = provider.stream(
      request({ simulation: { outputTokens: 6, chunkDelayMs: 0, stallAfterTokens: 2, stallMs: 60_000 } }),
      {
        signal: controller.signal,
        onChunk: (text) => chunks.push(text),
      },
    );
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ kind: 'aborted' });
    expect(chunks).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
