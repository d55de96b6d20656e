import type { ModelTier } from './models';

/**
 * How demanding a request looks, on an integer scale of 0 to 5 (integers keep the score exact and
 * easy to explain in a sentence):
 * - size, 0–3 points, from the larger of the counted input tokens and promptChars / 4 (about four
 *   characters per token), so a prompt whose token count was under-estimated still weighs its length:
 *   under 1,000 tokens 0, under 8,000 1, under 32,000 2, otherwise 3;
 * - JSON mode, +1 (structured output needs a model that follows instructions closely);
 * - vision inputs, +1.
 * Scores 0–1 suggest a low-tier model, 2–3 standard, 4–5 premium.
 */
export const maxComplexityScore = 5;

/** A rough characters-per-token ratio for English text, used only to read `promptChars` as tokens. */
const charsPerToken = 4;

/** Upper bounds (exclusive) of the 0-, 1- and 2-point size bands; anything larger scores 3. */
const sizeBands = [1_000, 8_000, 32_000] as const;

export interface ComplexitySignals {
  promptChars: number;
  inputTokens: number;
  jsonMode: boolean;
  hasVision: boolean;
}

export interface ComplexityAssessment {
  /** 0..maxComplexityScore. */
  score: number;
  suggestedTier: ModelTier;
  /** The size the score was read from: max(inputTokens, ceil(promptChars / 4)). */
  sizeTokens: number;
  sizePoints: number;
  jsonMode: boolean;
  hasVision: boolean;
}

export function assessComplexity(signals: ComplexitySignals): ComplexityAssessment {
  const sizeTokens = Math.max(signals.inputTokens, Math.ceil(signals.promptChars / charsPerToken));
  const band = sizeBands.findIndex((upper) => sizeTokens < upper);
  const sizePoints = band === -1 ? sizeBands.length : band;
  const score = sizePoints + (signals.jsonMode ? 1 : 0) + (signals.hasVision ? 1 : 0);
  return {
    score,
    suggestedTier: tierForScore(score),
    sizeTokens,
    sizePoints,
    jsonMode: signals.jsonMode,
    hasVision: signals.hasVision,
  };
}

function tierForScore(score: number): ModelTier {
  if (score <= 1) return 'low';
  if (score <= 3) return 'standard';
  return 'premium';
}
