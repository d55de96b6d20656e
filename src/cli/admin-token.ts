import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AuthTokenConfig, PalyraConfig } from '../config';

export interface ResolvedTokens {
  tokens: AuthTokenConfig[];
  /** Set when no token was configured and the generated admin token is in use. */
  generatedTokenFile?: string;
}

/**
 * With no tokens configured, Palyra uses an admin token generated once into the data dir
 * (mode 0600), so a fresh install is never open to the world and the token survives restarts.
 */
export function resolveAuthTokens(config: PalyraConfig): ResolvedTokens {
  if (config.auth.tokens.length > 0) return { tokens: config.auth.tokens };
  const file = path.join(config.dataDir, 'admin.token');
  let token = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
  if (token.length < 16) {
    token = `palyra_${randomBytes(24).toString('base64url')}`;
    fs.mkdirSync(config.dataDir, { recursive: true });
    fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
  }
  return {
    tokens: [{ name: 'generated-admin', token, role: 'admin', tenants: ['*'] }],
    generatedTokenFile: file,
  };
}
