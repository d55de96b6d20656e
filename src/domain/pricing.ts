/**
 * Money arithmetic for the budget ledger (docs/architecture.md, Money). Every amount is an integer number of
 * micro-USD; prices are integer micro-USD per million tokens. Costs round up so the ledger never
 * books less than a provider can bill.
 */

/** Integer micro-USD per million tokens, both non-negative. */
export interface ModelPrice {
  inputMicroUsdPerMTok: number;
  outputMicroUsdPerMTok: number;
}

export type PriceSource = 'config' | 'override' | 'catalog';

export interface PricingEstimate {
  modelId: string;
  inputTokens: number;
  maxOutputTokens: number;
  expectedMicroUsd: number;
  upperMicroUsd: number;
  source: PriceSource;
  precision: 'exact' | 'estimated';
  catalogVersion: string;
  price: ModelPrice;
}

const tokensPerMTok = 1_000_000n;

/**
 * Converts a USD-per-million-tokens price (as written in config) to integer micro-USD, rounding half up.
 * It rounds the decimal the operator wrote rather than its binary approximation: `0.0000025 * 1e6` is
 * 2.4999999999999996 in floating point, but the price means 2.5 µUSD and must round to 3.
 */
export function usdPerMTokToMicro(usd: number): number {
  if (!Number.isFinite(usd) || usd < 0) {
    throw new RangeError(`a price must be a finite, non-negative number of USD, got ${usd}`);
  }
  // toExponential() prints the shortest decimal that round-trips, e.g. "2.5e-6" or "7.5e-2".
  const [mantissa = '0', exponent = '0'] = usd.toExponential().split('e');
  const [whole = '0', fraction = ''] = mantissa.split('.');
  const significand = BigInt(whole + fraction);
  const microShift = Number(exponent) - fraction.length + 6;
  const micro =
    microShift >= 0
      ? significand * 10n ** BigInt(microShift)
      : (significand + 10n ** BigInt(-microShift) / 2n) / 10n ** BigInt(-microShift);
  return toSafeNumber(micro, `${usd} USD/MTok`);
}

/**
 * The cost of a call in micro-USD: `ceil((in × inputPrice + out × outputPrice) / 1e6)`. BigInt keeps
 * it exact far beyond the 10M tokens × 1e9 µUSD/MTok the ledger can meet, where doubles would not be.
 */
export function costMicroUsd(price: ModelPrice, tokens: { inputTokens: number; outputTokens: number }): number {
  requireMicroUsdPrice(price);
  requireTokenCount('inputTokens', tokens.inputTokens);
  requireTokenCount('outputTokens', tokens.outputTokens);
  const scaled = scaledCost(price, tokens.inputTokens, tokens.outputTokens);
  return toSafeNumber(ceilDiv(scaled, tokensPerMTok), 'the cost');
}

/**
 * Prices a run before it starts. `upperMicroUsd` assumes the model writes every token it may
 * (`maxOutputTokens`) and is what admission reserves. `expectedMicroUsd` assumes half of them: most
 * answers stop well before the cap, so this is a midpoint for display and routing, never for
 * admission.
 */
export function buildEstimate(args: {
  modelId: string;
  inputTokens: number;
  maxOutputTokens: number;
  price: ModelPrice;
  source: PriceSource;
  precision: 'exact' | 'estimated';
  catalogVersion: string;
}): PricingEstimate {
  const { modelId, inputTokens, maxOutputTokens, price, source, precision, catalogVersion } = args;
  return {
    modelId,
    inputTokens,
    maxOutputTokens,
    expectedMicroUsd: costMicroUsd(price, { inputTokens, outputTokens: Math.ceil(maxOutputTokens / 2) }),
    upperMicroUsd: costMicroUsd(price, { inputTokens, outputTokens: maxOutputTokens }),
    source,
    precision,
    catalogVersion,
    price,
  };
}

/**
 * The largest output-token count whose cost, together with the prompt, stays within the budget
 * (used to clamp `maxOutputTokens` when headroom is short). It agrees exactly with `costMicroUsd`:
 * `cost(in, n) ≤ budget < cost(in, n + 1)` whenever the prompt alone fits. Because ceil(x / 1e6) ≤ B
 * exactly when x ≤ B × 1e6, the answer is floor((B × 1e6 − in × inputPrice) / outputPrice).
 * 0 when the prompt alone does not fit; a negative budget (an overspent window) fits nothing.
 * Answers are capped at Number.MAX_SAFE_INTEGER, which is also the answer for free output.
 */
export function maxOutputTokensWithin(price: ModelPrice, inputTokens: number, budgetMicroUsd: number): number {
  requireMicroUsdPrice(price);
  requireTokenCount('inputTokens', inputTokens);
  if (!Number.isSafeInteger(budgetMicroUsd)) {
    throw new RangeError(`budgetMicroUsd must be an integer, got ${budgetMicroUsd}`);
  }
  const headroom = BigInt(budgetMicroUsd) * tokensPerMTok - scaledCost(price, inputTokens, 0);
  if (headroom < 0n) return 0;
  if (price.outputMicroUsdPerMTok === 0) return Number.MAX_SAFE_INTEGER;
  const tokens = headroom / BigInt(price.outputMicroUsdPerMTok);
  return tokens > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(tokens);
}

/** Cost in micro-USD × 1e6 (i.e. before dividing by tokens per MTok): exact, unrounded. */
function scaledCost(price: ModelPrice, inputTokens: number, outputTokens: number): bigint {
  return BigInt(inputTokens) * BigInt(price.inputMicroUsdPerMTok) + BigInt(outputTokens) * BigInt(price.outputMicroUsdPerMTok);
}

function ceilDiv(numerator: bigint, divisor: bigint): bigint {
  return (numerator + divisor - 1n) / divisor;
}

function toSafeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`${what} exceeds ${Number.MAX_SAFE_INTEGER} micro-USD`);
  }
  return Number(value);
}

function requireMicroUsdPrice(price: ModelPrice): void {
  const fields = [
    ['inputMicroUsdPerMTok', price.inputMicroUsdPerMTok],
    ['outputMicroUsdPerMTok', price.outputMicroUsdPerMTok],
  ] as const;
  for (const [name, value] of fields) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`${name} must be a non-negative integer number of micro-USD, got ${value}`);
    }
  }
}

function requireTokenCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
  }
}
