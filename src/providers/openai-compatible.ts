import { APIConnectionError, APIError, APIUserAbortError, OpenAI } from 'openai';
import {
  ProviderError,
  type ProviderAdapter,
  type ProviderRequest,
  type ProviderResponse,
  type ProviderUsage,
  type StreamHandlers,
} from './types';

export interface OpenAICompatibleConfig {
  id: string;
  baseUrl: string;
  /** Environment variable holding the API key; without it the provider is taken to need no key. */
  apiKeyEnv?: string;
}

/** Sent when no apiKeyEnv is configured: local servers ignore it, and the SDK will not run without a key. */
const keylessPlaceholder = 'palyra-no-key';

/**
 * A provider speaking the OpenAI chat completions API (OpenAI itself, vLLM, llama.cpp, Ollama, ...)
 * through the official SDK, always streaming. Failures are classified into `ProviderError` kinds so
 * Temporal, not the SDK, decides what to retry.
 */
export function createOpenAICompatibleProvider(config: OpenAICompatibleConfig): ProviderAdapter {
  return {
    id: config.id,
    kind: 'openai-compatible',
    async stream(request: ProviderRequest, handlers: StreamHandlers): Promise<ProviderResponse> {
      const client = new OpenAI({
        baseURL: config.baseUrl,
        apiKey: readApiKey(config),
        maxRetries: 0,
        // Otherwise the SDK fills these from OPENAI_* variables and would send them to any server.
        organization: null,
        project: null,
        adminAPIKey: null,
      });
      let responded = false;
      let finishReason: string | undefined;
      let usage: ProviderUsage | undefined;
      try {
        const stream = await client.chat.completions.create(
          {
            model: request.model,
            messages: request.messages,
            max_tokens: request.maxOutputTokens,
            stream: true,
            stream_options: { include_usage: true },
          },
          { signal: handlers.signal },
        );
        responded = true;
        for await (const chunk of stream) {
          const choice = chunk.choices[0];
          if (choice?.delta?.content) handlers.onChunk(choice.delta.content);
          if (choice?.finish_reason) finishReason = choice.finish_reason;
          // Some servers send running totals on every chunk: the last one is the total.
          if (chunk.usage) {
            usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
            handlers.onUsage?.(usage);
          }
        }
      } catch (error) {
        const droppedAfterFinish = finishReason !== undefined && !(error instanceof APIError) && !handlers.signal.aborted;
        // The text is whole; only the usage chunk may be lost, and a retry would bill the prompt twice.
        if (!droppedAfterFinish) throw toProviderError(error, config.id, { responded, aborted: handlers.signal.aborted });
      }
      // The SDK ends the iteration quietly both when the signal aborts it and when the server closes
      // the body early, so neither shows up as an error above.
      if (handlers.signal.aborted) throw abortedError(config.id);
      if (finishReason === undefined) {
        throw new ProviderError('stream_cut', `provider '${config.id}' ended the stream before the model finished`);
      }
      return { usage, finishReason: finishReason === 'length' ? 'length' : 'stop' };
    },
  };
}

function readApiKey({ id, apiKeyEnv }: OpenAICompatibleConfig): string {
  if (apiKeyEnv === undefined) return keylessPlaceholder;
  const key = process.env[apiKeyEnv];
  if (!key) {
    throw new ProviderError(
      'rejected',
      `provider '${id}' needs an API key in the environment variable ${apiKeyEnv}, which is not set`,
    );
  }
  return key;
}

function toProviderError(error: unknown, providerId: string, state: { responded: boolean; aborted: boolean }): unknown {
  if (state.aborted || error instanceof APIUserAbortError) return abortedError(providerId);
  // Covers refused and reset connections and timeouts (APIConnectionTimeoutError is a subclass).
  if (error instanceof APIConnectionError) {
    return new ProviderError('unavailable', `cannot reach provider '${providerId}': ${rootCauseMessage(error)}`);
  }
  if (error instanceof APIError) {
    // No status: an error object the server sent inside a stream that had started with HTTP 200.
    if (error.status === undefined) {
      const kind = saysRateLimited(error) ? 'rate_limited' : 'unavailable';
      return new ProviderError(kind, `provider '${providerId}' sent an error in the stream: ${error.message}`);
    }
    const message = `provider '${providerId}' answered HTTP ${error.message}`;
    if (error.status === 429) return new ProviderError('rate_limited', message, retryAfterSeconds(error.headers));
    // 408 is the server timing out the request: worth another try, like a 5xx.
    if (error.status >= 500 || error.status === 408) return new ProviderError('unavailable', message);
    return new ProviderError('rejected', message);
  }
  // Once the response has started, anything else (undici's "terminated") is the body being cut off.
  if (state.responded) {
    return new ProviderError('stream_cut', `provider '${providerId}' stream was cut: ${rootCauseMessage(error)}`);
  }
  return error;
}

function abortedError(providerId: string): ProviderError {
  return new ProviderError('aborted', `stream from provider '${providerId}' aborted`);
}

function saysRateLimited(error: APIError): boolean {
  return /rate.?limit|too many requests|\b429\b/i.test(`${error.type} ${error.code} ${error.message}`);
}

/** Seconds to wait from `retry-after-ms` (preferred, as the SDK does) or `retry-after` (seconds or an HTTP date). */
function retryAfterSeconds(headers: Headers | undefined): number | undefined {
  const millis = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(millis) && millis >= 0) return millis / 1000;
  const value = headers?.get('retry-after')?.trim();
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** The root cause's message (e.g. `connect ECONNREFUSED ...` under `Connection error.`). */
function rootCauseMessage(error: unknown): string {
  let current = error;
  // Duck-typed: errors from fetch come from another realm under jest's VM, so `instanceof Error` fails.
  while (hasCause(current)) current = current.cause;
  return typeof current === 'object' && current !== null && 'message' in current ? String(current.message) : String(current);
}

function hasCause(value: unknown): value is { cause: unknown } {
  return (
    typeof value === 'object' && value !== null && 'cause' in value && typeof value.cause === 'object' && value.cause !== null
  );
}
