import type { ProviderConfig } from '../config';
import { createOpenAICompatibleProvider } from './openai-compatible';
import { createSimulatedProvider } from './simulated';
import type { ProviderAdapter } from './types';

export interface ProviderRegistry {
  get(providerId: string): ProviderAdapter | undefined;
  /** Provider ids configured but not usable by this build, with the reason. */
  unavailable: Map<string, string>;
}

export function createProviderRegistry(providers: ProviderConfig[]): ProviderRegistry {
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
  return { get: (id) => adapters.get(id), unavailable };
}
