import { configSchema } from '../../src/config';
import { configSecrets, redactConfig, redactedMarker, scrubSecrets } from '../../src/config/redact';

const secrets = {
  authToken: 'plain-auth-token-0123456789',
  tokenHash: 'a'.repeat(64),
  databasePassword: 'db-p@ss-word-42',
  providerUrlPassword: 'url-secret-9876',
  providerKey: 'sk-known-provider-key-abcdef',
  uiQueryToken: 'ui-query-token-5555',
};

const config = configSchema.parse({
  database: { url: `postgres://palyra:${encodeURIComponent(secrets.databasePassword)}@db.internal:5432/palyra` },
  auth: {
    tokens: [
      { name: 'ci', token: secrets.authToken, role: 'admin' },
      { name: 'ops', sha256: secrets.tokenHash, role: 'operator', tenants: ['acme'] },
    ],
  },
  providers: [
    { id: 'simulated', kind: 'simulated' },
    {
      id: 'gateway',
      kind: 'openai-compatible',
      baseUrl: `https://svc:${secrets.providerUrlPassword}@llm.example.com/v1`,
      apiKeyEnv: 'GATEWAY_API_KEY',
    },
  ],
  temporal: { uiUrl: `https://temporal.example.com/?token=${secrets.uiQueryToken}&tab=1` },
});
const env = { GATEWAY_API_KEY: secrets.providerKey };

describe('redactConfig', () => {
  const redacted = JSON.stringify(redactConfig(config));

  // The provider key is in the environment, never in config: configSecrets covers it below.
  const inConfig = Object.entries(secrets).filter(([name]) => name !== 'providerKey');
  it.each(inConfig)('leaves no trace of the %s', (_name, secret) => {
    expect(redacted).not.toContain(secret);
    expect(redacted).not.toContain(encodeURIComponent(secret));
  });

  it('keeps what is not secret: token names and roles, hosts, key variable names, token counts', () => {
    const effective = redactConfig(config) as typeof config;
    expect(effective.auth.tokens.map((t) => [t.name, t.role, t.token ?? t.sha256])).toEqual([
      ['ci', 'admin', redactedMarker],
      ['ops', 'operator', redactedMarker],
    ]);
    expect(effective.database.url).toBe(`postgres://${redactedMarker}@db.internal:5432/palyra`);
    expect(effective.providers[1]).toMatchObject({
      baseUrl: `https://${redactedMarker}@llm.example.com/v1`,
      apiKeyEnv: 'GATEWAY_API_KEY',
    });
    expect(effective.temporal.uiUrl).toBe(`https://temporal.example.com/?token=${redactedMarker}&tab=1`);
    expect(effective.models[0]?.maxOutputTokens).toBe(config.models[0]?.maxOutputTokens);
  });
});

describe('configSecrets', () => {
  it('lists every literal secret, including the API key an apiKeyEnv names', () => {
    const listed = configSecrets(config, env);
    for (const secret of Object.values(secrets)) expect(listed).toContain(secret);
    expect(listed).not.toContain('palyra');
    expect(listed).not.toContain('svc');
  });

  it('scrubs them from any text, e.g. an error message quoting the database URL', () => {
    const scrubbed = scrubSecrets(
      { error: `connect failed: password "${secrets.databasePassword}" rejected`, nested: [secrets.providerKey] },
      configSecrets(config, env),
    );
    expect(JSON.stringify(scrubbed)).not.toMatch(/db-p@ss|sk-known/);
    expect(scrubbed.error).toBe(`connect failed: password "${redactedMarker}" rejected`);
  });
});
