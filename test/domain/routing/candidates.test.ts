import { assessCandidates, type CandidateRequest } from '../../../src/domain/routing';
import { models, prices } from './fixtures';

const request: CandidateRequest = {
  inputTokens: 1_000,
  requiredOutputTokens: null,
  referenceOutputTokens: 8_192,
  jsonMode: false,
  hasVision: false,
  prices,
  providerHealth: {},
  costCeilingModelId: null,
};

function candidate(modelId: string, overrides: Partial<CandidateRequest>) {
  return assessCandidates(models, { ...request, ...overrides }).find((entry) => entry.modelId === modelId);
}

describe('assessCandidates', () => {
  it('fits a prompt whose input plus output fills the context window exactly, and not one token more', () => {
    // mini: 16,000-token window, plans with its own 2,048-token output cap.
    expect(candidate('mini', { inputTokens: 13_952 })).toMatchObject({ eligible: true, plannedOutputTokens: 2_048 });
    expect(candidate('mini', { inputTokens: 13_953 })).toMatchObject({
      eligible: false,
      excludedBecause: 'context_window_exceeded',
    });
  });

  it('plans each model with the reference output cap, or its own when that is smaller', () => {
    const planned = assessCandidates(models, request).map((entry) => [entry.modelId, entry.plannedOutputTokens]);
    expect(planned).toEqual([
      ['mini', 2_048],
      ['std', 8_192],
      ['max', 8_192],
    ]);
  });

  it('excludes a model that cannot write the output cap the caller insisted on', () => {
    expect(candidate('mini', { requiredOutputTokens: 4_000 })).toMatchObject({
      eligible: false,
      excludedBecause: 'output_limit_exceeded',
      plannedOutputTokens: 4_000,
    });
    expect(candidate('std', { requiredOutputTokens: 4_000 })).toMatchObject({ eligible: true, plannedOutputTokens: 4_000 });
  });

  it('estimates what admission would reserve: every input token and every planned output token, rounded up', () => {
    // mini: 1,000 × 0.15 + 2,048 × 0.6 = 1,378.8 µUSD; std: 1,000 × 2.5 + 8,192 × 10; max: 1,000 × 15 + 8,192 × 75.
    const costs = assessCandidates(models, request).map((entry) => entry.estimatedCostMicroUsd);
    expect(costs).toEqual([1_379, 84_420, 629_400]);
  });

  it.each([
    ['a missing price', {}],
    ['a null price', { mini: null }],
  ])('excludes a model with %s rather than treat it as free', (_name, override) => {
    const withoutMini = Object.fromEntries(Object.entries(prices).filter(([id]) => id !== 'mini'));
    const entry = candidate('mini', { prices: { ...withoutMini, ...override } });
    expect(entry).toMatchObject({ eligible: false, excludedBecause: 'unknown_price' });
    expect(entry?.estimatedCostMicroUsd).toBeUndefined();
  });

  it('reports the static misfit rather than the provider state when both apply', () => {
    const entry = candidate('mini', { inputTokens: 20_000, providerHealth: { 'budget-ai': 'open' } });
    expect(entry?.excludedBecause).toBe('context_window_exceeded');
  });

  it('counts a half-open provider as available and an open one as not', () => {
    expect(candidate('std', { providerHealth: { acme: 'half_open' } })?.eligible).toBe(true);
    expect(candidate('std', { providerHealth: { acme: 'open' } })?.excludedBecause).toBe('provider_open');
  });
});
