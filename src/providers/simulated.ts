import { simulatedToken } from '../domain/simulated-stream';
import { ProviderError, type ProviderAdapter, type ProviderRequest, type ProviderResponse, type StreamHandlers } from './types';

/** Default pacing when a request to a simulated model carries no `simulation` block. */
export const defaultSimulation = { outputTokens: 32, chunkDelayMs: 10 } as const;

/**
 * A provider for development, demos and fault injection: streams deterministic tokens at a chosen
 * pace and fails or stalls on request. Usage is reported like a real provider (input counted as
 * whitespace-separated words of the prompt).
 */
export function createSimulatedProvider(id: string): ProviderAdapter {
  return {
    id,
    kind: 'simulated',
    async stream(request: ProviderRequest, handlers: StreamHandlers): Promise<ProviderResponse> {
      const simulation = { ...defaultSimulation, ...request.simulation };
      const outputTokens = Math.min(simulation.outputTokens, request.maxOutputTokens);
      const failing = simulation.failure !== undefined && request.attempt <= (simulation.failAttempts ?? 0);

      if (failing && simulation.failure === 'http_429') {
        throw new ProviderError('rate_limited', 'simulated provider answered HTTP 429 Too Many Requests', 1);
      }
      if (failing && simulation.failure === 'http_500') {
        throw new ProviderError('unavailable', 'simulated provider answered HTTP 500 Internal Server Error');
      }
      const inputTokens = simulatedInputTokens(request.messages);
      const cutAfter = failing && simulation.failure === 'stream_cut' ? Math.floor(outputTokens / 2) : undefined;

      for (let index = 0; index < outputTokens; index++) {
        if (index === cutAfter) {
          throw new ProviderError('stream_cut', `simulated stream cut after ${index} tokens`);
        }
        // The stall happens on the first attempt only, so a retry can show recovery.
        if (request.attempt === 1 && simulation.stallAfterTokens === index && simulation.stallMs) {
          await abortableDelay(simulation.stallMs, handlers.signal);
        }
        if (simulation.chunkDelayMs > 0) await abortableDelay(simulation.chunkDelayMs, handlers.signal);
        handlers.onChunk(simulatedToken(request.runId, index));
        // One token per chunk, reported as it goes like servers that send running usage.
        handlers.onUsage?.({ inputTokens, outputTokens: index + 1 });
      }
      return {
        usage: { inputTokens, outputTokens },
        finishReason: outputTokens < simulation.outputTokens ? 'length' : 'stop',
      };
    },
  };
}

/** The prompt tokens the simulated provider reports: whitespace-separated words plus 4 per message. */
export function simulatedInputTokens(messages: ProviderRequest['messages']): number {
  return messages.reduce((sum, m) => sum + countWords(m.content) + 4, 0);
}

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new ProviderError('aborted', 'stream aborted'));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ProviderError('aborted', 'stream aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
