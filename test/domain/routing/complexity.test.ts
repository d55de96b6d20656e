import { assessComplexity, maxComplexityScore, type ComplexitySignals } from '../../../src/domain/routing';

const plain: ComplexitySignals = { promptChars: 0, inputTokens: 0, jsonMode: false, hasVision: false };

describe('assessComplexity', () => {
  it.each<[string, number, string, Partial<ComplexitySignals>]>([
    ['an empty prompt', 0, 'low', {}],
    ['999 tokens', 0, 'low', { inputTokens: 999 }],
    ['1,000 tokens', 1, 'low', { inputTokens: 1_000 }],
    ['7,999 tokens', 1, 'low', { inputTokens: 7_999 }],
    ['8,000 tokens', 2, 'standard', { inputTokens: 8_000 }],
    ['32,000 tokens', 3, 'standard', { inputTokens: 32_000 }],
    ['a short JSON request', 1, 'low', { inputTokens: 100, jsonMode: true }],
    ['a mid-sized JSON request', 2, 'standard', { inputTokens: 2_000, jsonMode: true }],
    ['a large JSON request', 4, 'premium', { inputTokens: 40_000, jsonMode: true }],
    ['everything at once', 5, 'premium', { inputTokens: 500_000, jsonMode: true, hasVision: true }],
  ])('%s scores %p and suggests %s', (_name, score, tier, signals) => {
    const complexity = assessComplexity({ ...plain, ...signals });
    expect(complexity.score).toBe(score);
    expect(complexity.suggestedTier).toBe(tier);
    expect(complexity.score).toBeLessThanOrEqual(maxComplexityScore);
  });

  it('reads a long prompt whose token count is low as about four characters per token', () => {
    const complexity = assessComplexity({ ...plain, promptChars: 40_000, inputTokens: 10 });
    expect(complexity.sizeTokens).toBe(10_000);
    expect(complexity.sizePoints).toBe(2);
  });

  it('uses the token count when it is the larger signal', () => {
    expect(assessComplexity({ ...plain, promptChars: 400, inputTokens: 9_000 }).sizeTokens).toBe(9_000);
  });
});
