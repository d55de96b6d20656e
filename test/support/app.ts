import type { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server';
import type { AuthTokenConfig, PalyraConfig, PalyraConfigInput } from '../../src/config';
import type { LedgerRepository } from '../../src/ledger';
import { openTestLedger, type TestLedger } from './ledger';
import { composeTestServices, connectTestClient, testConfig } from './temporal';

/** Tokens the API tests use: an all-tenant admin, two tenant-scoped services and an operator. */
export const testTokens = {
  admin: 'admin-token-0123456789',
  acmeAdmin: 'acme-admin-token-0123456789',
  acmeService: 'acme-service-token-0123456789',
  globexService: 'globex-service-token-0123456789',
  globexAdmin: 'globex-admin-token-0123456789',
  operator: 'operator-token-0123456789',
};

const tokenConfig: AuthTokenConfig[] = [
  { name: 'admin', token: testTokens.admin, role: 'admin', tenants: ['*'] },
  { name: 'acme-admin', token: testTokens.acmeAdmin, role: 'admin', tenants: ['acme'] },
  { name: 'acme-svc', token: testTokens.acmeService, role: 'service', tenants: ['acme'] },
  { name: 'globex-svc', token: testTokens.globexService, role: 'service', tenants: ['globex'] },
  { name: 'globex-admin', token: testTokens.globexAdmin, role: 'admin', tenants: ['globex'] },
  { name: 'operator', token: testTokens.operator, role: 'operator', tenants: ['*'] },
];

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export async function buildTestApp(options: {
  client: Client;
  connection: Connection;
  ledger: LedgerRepository;
  config?: PalyraConfigInput;
  /**
   * Whether the API decides admission itself before starting a run, as under `palyra dev` (the
   * default), or leaves it to the workflow, as a separate `palyra api` process does.
   */
  admission?: 'in_process' | 'workflow';
}): Promise<{ app: FastifyInstance; config: PalyraConfig }> {
  const config = testConfig(options.config);
  const services = await composeTestServices(config, options.ledger);
  const app = await buildServer({
    config,
    logger: false,
    temporal: { client: options.client, connection: options.connection, uiUrl: 'http://temporal-ui.test:8233' },
    tokens: tokenConfig,
    ledger: options.ledger,
    routePlanner: services.routePlanner,
    ...(options.admission === 'workflow' ? {} : { admissionCalls: services.admissionCalls }),
    version: 'test',
  });
  return { app, config };
}

/** A test API over the shared dev server and a SQLite ledger of its own, with one close for all. */
export interface TestStack {
  client: Client;
  connection: Connection;
  ledger: TestLedger;
  app: FastifyInstance;
  config: PalyraConfig;
  close(): Promise<void>;
}

export async function openTestStack(
  config?: PalyraConfigInput,
  options: Pick<Parameters<typeof buildTestApp>[0], 'admission'> = {},
): Promise<TestStack> {
  const { client, connection } = await connectTestClient();
  const ledger = await openTestLedger('sqlite');
  const built = await buildTestApp({ client, connection, ledger: ledger.repo, ...(config ? { config } : {}), ...options });
  return {
    client,
    connection,
    ledger,
    ...built,
    async close() {
      await built.app.close();
      await ledger.close();
      await connection.close();
    },
  };
}
