import type { Client, Connection } from '@temporalio/client';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { buildServer } from '../../src/api/server';
import type { ConsoleAction } from '../../src/api/session/actions';
import { sessionRoutes } from '../../src/api/session/routes';
import type { AuthTokenConfig } from '../../src/config';
import { bearer } from '../support/app';
import { openTestLedger, type TestLedger } from '../support/ledger';
import { composeTestServices, connectTestClient, testConfig } from '../support/temporal';

const tokens: AuthTokenConfig[] = [
  { name: 'svc', token: 'svc-token-0123456789', role: 'service', tenants: ['*'] },
  { name: 'ops', token: 'ops-token-0123456789', role: 'operator', tenants: ['*'] },
  { name: 'oncall', token: 'sre-token-0123456789', role: 'sre', tenants: ['*'] },
  { name: 'root', token: 'admin-token-0123456789', role: 'admin', tenants: ['*'] },
  { name: 'acme-svc', token: 'acme-svc-token-0123456789', role: 'service', tenants: ['acme'] },
  { name: 'acme-ops', token: 'acme-ops-token-0123456789', role: 'operator', tenants: ['acme'] },
  { name: 'acme-sre', token: 'acme-sre-token-0123456789', role: 'sre', tenants: ['acme', 'acme-eu'] },
  { name: 'acme-admin', token: 'acme-admin-token-0123456789', role: 'admin', tenants: ['acme'] },
];

let client: Client;
let connection: Connection;
let ledger: TestLedger;
let app: FastifyInstance;

beforeAll(async () => {
  ({ client, connection } = await connectTestClient());
  ledger = await openTestLedger('sqlite');
  const config = testConfig();
  app = await buildServer({
    config,
    logger: false,
    temporal: { client, connection, uiUrl: undefined },
    tokens,
    ledger: ledger.repo,
    routePlanner: (await composeTestServices(config, ledger.repo)).routePlanner,
    version: 'test',
  });
});
afterAll(async () => {
  await app?.close();
  await ledger?.close();
  await connection?.close();
});

const session = (token?: string) => app.inject({ method: 'GET', url: '/v1/session', headers: token ? bearer(token) : {} });

/** What each role may do: written out here, so a change to a route's access rule shows as a change of `can`. */
const none: Record<ConsoleAction, boolean> = {
  startRun: false,
  cancelRun: false,
  decideApproval: false,
  controlTask: false,
  decideIncident: false,
  resumeTenant: false,
  readBudgets: false,
  editBudget: false,
  editPricing: false,
  readDiagnostics: false,
  runDoctorPreview: false,
  applyDoctor: false,
  readAudit: false,
};
const service = { ...none, startRun: true, cancelRun: true };
const operatorOfSomeTenants = { ...service, decideApproval: true, controlTask: true, readBudgets: true };
const operator = { ...operatorOfSomeTenants, readDiagnostics: true, runDoctorPreview: true };
const sreOfSomeTenants = { ...operatorOfSomeTenants, decideIncident: true, resumeTenant: true };
const sre = { ...operator, decideIncident: true, resumeTenant: true };
const adminOfSomeTenants = { ...sreOfSomeTenants, editBudget: true };
const admin = Object.fromEntries(Object.keys(none).map((action) => [action, true]));

describe('GET /v1/session', () => {
  it.each([
    ['svc', 'service', null, service],
    ['ops', 'operator', null, operator],
    ['oncall', 'sre', null, sre],
    ['root', 'admin', null, admin],
    ['acme-svc', 'service', ['acme'], service],
    ['acme-ops', 'operator', ['acme'], operatorOfSomeTenants],
    ['acme-sre', 'sre', ['acme', 'acme-eu'], sreOfSomeTenants],
    ['acme-admin', 'admin', ['acme'], adminOfSomeTenants],
  ])('tells %s its role, tenants and what it may do', async (name, role, tenants, can) => {
    const token = tokens.find((t) => t.name === name)?.token as string;
    const response = await session(token);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ name, role, tenants, allTenants: tenants === null, can });
  });

  it('agrees with what the routes answer: an operator may preview a repair but not apply one', async () => {
    const ops = tokens.find((t) => t.name === 'ops')?.token as string;
    const { can } = (await session(ops)).json();
    expect(can).toMatchObject({ runDoctorPreview: true, applyDoctor: false, readAudit: false });
    const apply = await app.inject({
      method: 'POST',
      url: '/console/v1/doctor/jobs',
      headers: bearer(ops),
      payload: { mode: 'repair_apply' },
    });
    expect(apply.statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/v1/audit', headers: bearer(ops) })).statusCode).toBe(403);
  });

  it('needs a token', async () => {
    expect((await session()).statusCode).toBe(401);
    expect((await session('not-a-token-0123456789')).statusCode).toBe(401);
  });

  it('keeps the app from starting when an action names a route it does not register', async () => {
    const bare = Fastify({ logger: false });
    bare.setValidatorCompiler(validatorCompiler);
    bare.setSerializerCompiler(serializerCompiler);
    await bare.register(sessionRoutes);
    bare.post('/v1/runs', { config: { auth: { role: 'service' } } }, async () => ({}));
    const failure = await bare.ready().then(
      () => undefined,
      (error: Error) => error.message,
    );
    await bare.close();
    expect(failure).toMatch(/does not register: .*POST \/v1\/runs\/:runId\/cancel/);
    expect(failure).not.toMatch(/POST \/v1\/runs(,|$)/);
  });
});
