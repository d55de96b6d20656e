import type { ProviderConfig } from '../config';
import { scrubError } from '../config/redact';
import { createOpenAICompatibleProvider } from './openai-compatible';
import { createSimulatedProvider } from './simulated';
import type { ProviderAdapter } from './types';

export interface ProviderRegistry {
  get(providerId: string): ProviderAdapter | undefined;
  /** Provider ids configured but not usable by this build, with the reason. */
  unavailable: Map<string, string>;
}

/**
 * The adapters of the configured providers. A provider's error text is outside text (an HTTP body, a
 * stream event) that may echo a key back: every configured secret (`secrets`, from `configSecrets`)
 * is scrubbed from it here, before it can reach a run document, a workflow history or a log.
 */
export function createProviderRegistry(
  providers: ProviderConfig[],
  { secrets = [] }: { secrets?: readonly string[] } = {},
): ProviderRegistry {
  const adapters = new Map<string, ProviderAdapter>();
  const unavailable = new Map<string, string>();
  for (const provider of providers) {
    switch (provider.kind) {
      case 'simulated':
        adapters.set(provider.id, createSimulatedProvider(provider.id));
        break;
      case 'openai-compatible': {
        const { id, baseUrl, apiKeyEnv } = provider;
        // Config validation requires baseUrl for this kind; the check only narrows the type.
        if (baseUrl === undefined) unavailable.set(id, 'an openai-compatible provider needs `baseUrl`');
        else adapters.set(id, createOpenAICompatibleProvider({ id, baseUrl, apiKeyEnv }));
        break;
      }
    }
  }
  for (const [id, adapter] of adapters) adapters.set(id, withScrubbedErrors(adapter, secrets));
  return { get: (id) => adapters.get(id), unavailable };
}

function withScrubbedErrors(adapter: ProviderAdapter, secrets: readonly string[]): ProviderAdapter {
  if (secrets.length === 0) return adapter;
  return {
    ...adapter,
    async stream(request, handlers) {
      try {
        return await adapter.stream(request, handlers);
      } catch (error) {
        throw scrubError(error, secrets);
      }
    },
  };
}
