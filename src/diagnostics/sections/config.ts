import { redactConfig } from '../../config/redact';
import type { SectionContext } from '../deps';
import type { ConfigFigures, SectionVerdict } from '../types';

export async function configSection({ deps }: SectionContext): Promise<SectionVerdict & ConfigFigures> {
  const plaintextTokens = deps.config.auth.tokens.filter((token) => token.token !== undefined).length;
  return {
    status: 'ok',
    reasonCodes: [],
    hints:
      plaintextTokens > 0
        ? [`${plaintextTokens} auth token(s) are stored in plain text: prefer \`sha256\` in the config file`]
        : [],
    effective: redactConfig(deps.config),
  };
}
