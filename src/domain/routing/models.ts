/**
 * The part of a configured model that routing reads. It is declared here rather than imported from
 * `src/config` because `src/domain` may not depend on the config layer; `ModelConfig` satisfies it.
 */
export const modelTiers = ['low', 'standard', 'premium'] as const;
export type ModelTier = (typeof modelTiers)[number];

export interface RoutableModel {
  id: string;
  provider: string;
  tier: ModelTier;
  contextWindow: number;
  maxOutputTokens: number;
  capabilities: { json: boolean; vision: boolean };
}

export function tierRank(tier: ModelTier): number {
  return modelTiers.indexOf(tier);
}
