import fc from 'fast-check';
import { buildEstimate, costMicroUsd, maxOutputTokensWithin, usdPerMTokToMicro, type ModelPrice } from '../../src/domain/pricing';

const price = (inputMicroUsdPerMTok: number, outputMicroUsdPerMTok: number): ModelPrice => ({
  inputMicroUsdPerMTok,
  outputMicroUsdPerMTok,
});

/** The property tests range over the limits the ledger promises to be exact for. */
const tokenCount = fc.integer({ min: 0, max: 10_000_000 });
const microUsdPerMTok = fc.integer({ min: 0, max: 1_000_000_000 });
const modelPrice = fc.record({ inputMicroUsdPerMTok: microUsdPerMTok, outputMicroUsdPerMTok: microUsdPerMTok });

describe('usdPerMTokToMicro', () => {
  it.each([
    [2.5, 2_500_000],
    [0.075, 75_000],
    [15, 15_000_000],
    [0, 0],
    [0.15, 150_000],
    [0.0000025, 3], // half a micro-USD rounds up, although 0.0000025 * 1e6 < 2.5 in binary
    [0.0000024, 2],
    [1e-7, 0],
    [1234.5678901, 1_234_567_890],
  ])('%p USD/MTok is %p µUSD/MTok', (usd, micro) => {
    expect(usdPerMTokToMicro(usd)).toBe(micro);
  });

  it('recovers every whole micro-USD price from its USD form', () => {
    fc.assert(fc.property(microUsdPerMTok, (micro) => usdPerMTokToMicro(micro / 1_000_000) === micro));
  });

  it.each([-0.01, Number.NaN, Number.POSITIVE_INFINITY, 1e21])('rejects %p', (usd) => {
    expect(() => usdPerMTokToMicro(usd)).toThrow(RangeError);
  });
});

describe('costMicroUsd', () => {
  it.each<[ModelPrice, number, number, number]>([
    [price(2_500_000, 10_000_000), 1_000, 500, 7_500], // 2.5 + 5 thousandths of a dollar
    [price(2_500_000, 10_000_000), 0, 0, 0],
    [price(150_000, 600_000), 1, 0, 1], // 0.15 µUSD rounds up to 1
    [price(150_000, 600_000), 10, 10, 8], // 1.5 + 6 = 7.5 → 8
    [price(1_000_000, 0), 1_000_000, 5_000, 1_000_000], // exact: no rounding
    [price(1_000_000_000, 1_000_000_000), 10_000_000, 10_000_000, 20_000_000_000],
  ])('%o with %p in / %p out costs %p µUSD', (p, inputTokens, outputTokens, expected) => {
    expect(costMicroUsd(p, { inputTokens, outputTokens })).toBe(expected);
  });

  it.each([
    [price(1, 1), -1, 0],
    [price(1, 1), 1.5, 0],
    [price(-1, 1), 1, 1],
    [price(1, 0.5), 1, 1],
  ])('rejects %o with %p in / %p out', (p, inputTokens, outputTokens) => {
    expect(() => costMicroUsd(p, { inputTokens, outputTokens })).toThrow(RangeError);
  });

  it('is the exact ceiling of the micro-USD amount, never below it', () => {
    fc.assert(
      fc.property(modelPrice, tokenCount, tokenCount, (p, inputTokens, outputTokens) => {
        const scaled =
          BigInt(inputTokens) * BigInt(p.inputMicroUsdPerMTok) + BigInt(outputTokens) * BigInt(p.outputMicroUsdPerMTok);
        const cost = BigInt(costMicroUsd(p, { inputTokens, outputTokens }));
        // cost is the smallest integer with cost × 1e6 ≥ scaled
        return cost * 1_000_000n >= scaled && (cost - 1n) * 1_000_000n < scaled;
      }),
    );
  });

  it('never decreases when tokens are added', () => {
    fc.assert(
      fc.property(modelPrice, tokenCount, tokenCount, fc.integer({ min: 0, max: 1000 }), (p, inputTokens, outputTokens, more) => {
        const base = costMicroUsd(p, { inputTokens, outputTokens });
        return (
          costMicroUsd(p, { inputTokens: inputTokens + more, outputTokens }) >= base &&
          costMicroUsd(p, { inputTokens, outputTokens: outputTokens + more }) >= base
        );
      }),
    );
  });
});

describe('buildEstimate', () => {
  const common = { modelId: 'm', source: 'config', precision: 'exact', catalogVersion: 'v1' } as const;

  it.each([
    // in, maxOut, expected (in + ceil(maxOut / 2)), upper (in + maxOut)
    [1_000, 1_000, 7_500, 12_500],
    [1_000, 1, 2_510, 2_510],
    [0, 0, 0, 0],
    [3, 3, 28, 38], // 7.5 + 20 and 7.5 + 30 µUSD, rounded up
  ])('prices %p in with up to %p out at expected %p and at most %p µUSD', (inputTokens, maxOutputTokens, expected, upper) => {
    const estimate = buildEstimate({ ...common, inputTokens, maxOutputTokens, price: price(2_500_000, 10_000_000) });
    expect(estimate).toEqual({
      ...common,
      inputTokens,
      maxOutputTokens,
      expectedMicroUsd: expected,
      upperMicroUsd: upper,
      price: price(2_500_000, 10_000_000),
    });
  });
});

describe('maxOutputTokensWithin', () => {
  it.each<[ModelPrice, number, number, number]>([
    [price(2_500_000, 10_000_000), 1_000, 12_500, 1_000],
    [price(2_500_000, 10_000_000), 1_000, 12_499, 999],
    [price(2_500_000, 10_000_000), 1_000, 2_500, 0], // the prompt uses the whole budget
    [price(2_500_000, 10_000_000), 1_000, 2_499, 0], // the prompt alone does not fit
    [price(2_500_000, 10_000_000), 1_000, -5, 0],
    [price(2_500_000, 0), 1_000, 2_500, Number.MAX_SAFE_INTEGER], // free output
    [price(2_500_000, 0), 1_000, 2_499, 0],
    // The prompt alone already costs the whole budget once rounded (0.15 → 1 µUSD), yet one output
    // token still fits in the rounding slack: 0.15 + 0.6 = 0.75 µUSD also rounds to 1.
    [price(150_000, 600_000), 1, 1, 1],
    [price(0, 0), 0, 0, Number.MAX_SAFE_INTEGER],
    [price(0, 1), 0, 9_007_199_255, Number.MAX_SAFE_INTEGER], // 9.007199255e15 tokens: capped
  ])('with %o, %p in and %p µUSD allows %p out', (p, inputTokens, budget, expected) => {
    expect(maxOutputTokensWithin(p, inputTokens, budget)).toBe(expected);
  });

  it('agrees exactly with costMicroUsd: cost(in, n) ≤ budget < cost(in, n + 1)', () => {
    fc.assert(
      fc.property(
        // An output price of at least 10 keeps every answer below the MAX_SAFE_INTEGER cap.
        fc.record({ inputMicroUsdPerMTok: microUsdPerMTok, outputMicroUsdPerMTok: fc.integer({ min: 10, max: 1_000_000_000 }) }),
        tokenCount,
        fc.integer({ min: 0, max: 50_000_000_000 }),
        (p, inputTokens, budget) => {
          const allowed = maxOutputTokensWithin(p, inputTokens, budget);
          if (costMicroUsd(p, { inputTokens, outputTokens: 0 }) > budget) return allowed === 0;
          return (
            costMicroUsd(p, { inputTokens, outputTokens: allowed }) <= budget &&
            costMicroUsd(p, { inputTokens, outputTokens: allowed + 1 }) > budget
          );
        },
      ),
    );
  });
});
