import type { ProviderConfig } from '../config';
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
      case 'openai-compatible':
        unavailable.set(provider.id, 'the openai-compatible adapter is not part of this build yet (governed runs issue)');
        break;
    }
  }
  return { get: (id) => adapters.get(id), unavailable };
}
