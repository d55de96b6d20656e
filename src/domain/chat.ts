/** A chat message as Palyra accepts it; providers translate it to their own format. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Fault injection and pacing for models of a `simulated` provider (docs/architecture.md, Adding a provider). */
export interface SimulationOptions {
  outputTokens: number;
  chunkDelayMs: number;
  stallAfterTokens?: number;
  stallMs?: number;
  failAttempts?: number;
  failure?: 'http_429' | 'http_500' | 'stream_cut';
}
