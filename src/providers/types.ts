import type { ChatMessage, SimulationOptions } from '../domain/chat';

export interface ProviderRequest {
  runId: string;
  model: string;
  messages: ChatMessage[];
  maxOutputTokens: number;
  simulation?: SimulationOptions;
  /** 1 for the first try; providers that inject faults per attempt read it. */
  attempt: number;
}

export interface ProviderUsage {
  inputTokens: number;
  outputTokens: number;
}

export interface ProviderResponse {
  /** Usage as the provider reported it; absent when it reported none. */
  usage?: ProviderUsage;
  finishReason: 'stop' | 'length';
}

export interface StreamHandlers {
  /** Called for every chunk of text, in order. */
  onChunk(text: string): void;
  /** Running usage, for providers that report it during the stream (the latest call is the total so far). */
  onUsage?(usage: ProviderUsage): void;
  /** Aborts the stream (activity cancellation). */
  signal: AbortSignal;
}

/**
 * A model provider. Errors are thrown as `ProviderError` so the activity can classify them into
 * the closed set of failure types.
 */
export interface ProviderAdapter {
  readonly id: string;
  readonly kind: string;
  stream(request: ProviderRequest, handlers: StreamHandlers): Promise<ProviderResponse>;
}

export type ProviderErrorKind = 'rate_limited' | 'unavailable' | 'stream_cut' | 'rejected' | 'aborted';

export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  constructor(
    readonly kind: ProviderErrorKind,
    message: string,
    /** Seconds the provider asked us to wait (`retry-after`). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}
