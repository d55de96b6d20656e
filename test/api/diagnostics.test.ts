import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import Long from 'long';
import { migrateLedger, migrateLedgerDown } from '../../src/ledger/migrations';
import { sectionDeadlineMs } from '../../src/diagnostics';
import { deleteSupervisorSchedule, ensureSupervisorSchedule, supervisorScheduleId } from '../../src/temporal/supervisor-schedule';
import { findFreePort } from '../../src/util/net';
import { bearer, buildTestApp, openTestStack, testTokens, type TestStack } from '../support/app';
import { startSupervisorTestWorker, startTestWorker } from '../support/temporal';

/**
 * `GET /console/v1/diagnostics` against the shared dev server: a healthy stack (run worker,
 * supervisor worker, schedule), then the same stack broken one way at a time.
 */
const secrets = {
  authToken: 'diagnostics-known-auth-token-0123',
  databasePassword: 'diagnostics-known-db-password',
  providerUrlPassword: 'diagnostics-known-url-password',
  providerApiKey: 'sk-diagnostics-known-provider-key',
};
const providerKeyEnv = 'PALYRA_DIAGNOSTICS_TEST_KEY';
process.env[providerKeyEnv] = secrets.providerApiKey;

let stack: TestStack;
let app: FastifyInstance;
let workers: { stop(): Promise<void> }[] = [];
beforeAll(async () => {
  stack = await openTestStack({
    database: { url: `postgres://palyra:${secrets.databasePassword}@db.internal:5432/palyra` },
    auth: { tokens: [{ name: 'known', token: secrets.authToken, role: 'admin' }] },
    providers: [
      { id: 'simulated', kind: 'simulated' },
      {
        id: 'gateway',
        kind: 'openai-compatible',
        baseUrl: `https://svc:${secrets.providerUrlPassword}@llm.example.com/v1`,
        apiKeyEnv: providerKeyEnv,
      },
    ],
  });
  app = stack.app;
  workers = await Promise.all([
    startTestWorker(stack.config, stack.ledger.repo),
    startSupervisorTestWorker(stack.config, stack.ledger.repo),
  ]);
  await ensureSupervisorSchedule(stack.client, stack.config);
});
afterAll(async () => {
  await deleteSupervisorSchedule(stack.client, stack.config).catch(() => undefined);
  await Promise.all(workers.map((worker) => worker.stop()));
  await stack?.close();
  delete process.env[providerKeyEnv];
});

type Body = {
  status: string;
  sections: Record<string, { status: string; reasonCodes: string[]; error?: string } & Record<string, unknown>>;
};
const diagnose = async (target = app, token = testTokens.operator) => {
  const response = await target.inject({ method: 'GET', url: '/console/v1/diagnostics', headers: bearer(token) });
  return { response, body: response.json<Body>() };
};

/** Polls until `accept` holds: pollers and schedule changes reach visibility within a second or two. */
async function diagnoseUntil(accept: (body: Body) => boolean, target = app): Promise<Body> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { response, body } = await diagnose(target);
    expect(response.statusCode).toBe(200);
    if (accept(body) || Date.now() > deadline) return body;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const retrySettleMs = 3_000;

const sectionNames = [
  'temporal',
  'taskQueues',
  'ledger',
  'budgets',
  'routing',
  'backgroundTasks',
  'selfHealing',
  'supervisor',
  'process',
  'config',
];

describe('GET /console/v1/diagnostics', () => {
  it('healthy: every section present, Temporal reachable, both queues polled, schedule running', async () => {
    const body = await diagnoseUntil((b) => b.sections.taskQueues?.status === 'ok');
    expect(Object.keys(body.sections)).toEqual(sectionNames);
    expect(body).toMatchObject({ contractVersion: 1, generatedAt: expect.any(String) });
    const { temporal, taskQueues, supervisor, ledger, routing } = body.sections;
    expect(temporal).toMatchObject({ status: 'ok', reachable: true, namespace: 'default', serverVersion: expect.any(String) });
    expect(taskQueues).toMatchObject({ status: 'ok', reasonCodes: [] });
    const queues = taskQueues?.queues as { name: string; role: string; workflowPollers: { polling: boolean }[] }[];
    expect(queues.map((q) => [q.name, q.role])).toEqual([
      [stack.config.temporal.taskQueue, 'runs'],
      [stack.config.temporal.supervisorTaskQueue, 'supervisor'],
    ]);
    expect(queues.every((q) => q.workflowPollers.some((p) => p.polling))).toBe(true);
    expect(supervisor).toMatchObject({ status: 'ok', present: true, paused: false, nextActionAt: expect.any(String) });
    expect(ledger).toMatchObject({ status: 'ok', dialect: 'sqlite', migrations: { pending: [] } });
    expect(routing).toMatchObject({ mode: 'suggest', providers: [{ providerId: 'simulated' }, { providerId: 'gateway' }] });
  });

  it('never shows a known secret anywhere in the body', async () => {
    const { response } = await diagnose();
    for (const secret of Object.values(secrets)) expect(response.body).not.toContain(secret);
    expect(response.body).toContain('[redacted]');
  });

  it('a paused supervisor schedule is degraded; a deleted one is blocking', async () => {
    const handle = stack.client.schedule.getHandle(supervisorScheduleId(stack.config));
    await handle.pause('diagnostics test');
    try {
      const paused = await diagnoseUntil((b) => b.sections.supervisor?.status === 'degraded');
      expect(paused.sections.supervisor).toMatchObject({
        status: 'degraded',
        reasonCodes: ['supervisor_schedule_paused'],
        paused: true,
      });
    } finally {
      await handle.unpause();
    }
    await deleteSupervisorSchedule(stack.client, stack.config);
    try {
      const deleted = await diagnoseUntil((b) => b.sections.supervisor?.status === 'blocking');
      expect(deleted.sections.supervisor).toMatchObject({
        status: 'blocking',
        reasonCodes: ['supervisor_schedule_missing'],
        present: false,
      });
      expect(deleted.status).toBe('blocking');
    } finally {
      await ensureSupervisorSchedule(stack.client, stack.config);
    }
  });

  it('no worker on the run queue: taskQueues is blocking with no_pollers', async () => {
    const { app: unpolled, config } = await buildTestApp({
      client: stack.client,
      connection: stack.connection,
      ledger: stack.ledger.repo,
    });
    try {
      const { response, body } = await diagnose(unpolled);
      expect(response.statusCode).toBe(200);
      expect(body.status).toBe('blocking');
      expect(body.sections.taskQueues).toMatchObject({ status: 'blocking', reasonCodes: ['no_pollers'] });
      const queues = body.sections.taskQueues?.queues as { name: string; status: string; workflowPollers: unknown[] }[];
      expect(queues[0]).toMatchObject({ name: config.temporal.taskQueue, status: 'blocking', workflowPollers: [] });
    } finally {
      await unpolled.close();
    }
  });

  it('Temporal unreachable: still 200 within the section deadline, the Temporal sections unavailable with their error', async () => {
    const connection = Connection.lazy({ address: `127.0.0.1:${await findFreePort()}` });
    const { app: cutOff } = await buildTestApp({
      client: new Client({ connection, namespace: 'default' }),
      connection,
      ledger: stack.ledger.repo,
    });
    try {
      const startedAt = Date.now();
      const { response, body } = await diagnose(cutOff);
      expect(Date.now() - startedAt).toBeLessThan(sectionDeadlineMs + 1_500);
      expect(response.statusCode).toBe(200);
      expect(body.sections.temporal).toMatchObject({ status: 'unavailable', error: expect.any(String) });
      expect(body.sections.temporal?.error).not.toBe('');
      expect(body.sections.ledger?.status).not.toBe('unavailable');
      expect(body.status).not.toBe('ok');
    } finally {
      await cutOff.close();
      // The client's retry interceptor may still have a retry scheduled (it fails at once, past the
      // deadline); closing the channel under it would throw from a timer.
      await new Promise((resolve) => setTimeout(resolve, retrySettleMs));
      await connection.close();
    }
  });

  it('shows a hold left pending past its expiry', async () => {
    await stack.ledger.repo.reserve({
      reservationId: 'diag-expired-hold',
      runId: 'diag-run',
      scope: { tenantId: 'acme', principalId: 'svc', modelId: 'sim-standard' },
      inputTokens: 10,
      maxOutputTokens: 10,
      price: { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 },
      catalogVersion: 'v',
      expiresAt: new Date(Date.now() - 10 * 60_000),
    });
    const { body } = await diagnose();
    expect(body.sections.ledger).toMatchObject({
      status: 'degraded',
      reasonCodes: ['holds_past_expiry'],
      reservations: { pending: 1, pendingPastExpiry: 1, mostOverdueMs: expect.any(Number) },
    });
  });

  it('a fresh namespace without Palyra search attributes is blocking in the temporal section', async () => {
    const namespace = `diag-${Date.now()}`;
    await stack.connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(86_400) },
    });
    const { app: fresh } = await buildTestApp({
      client: new Client({ connection: stack.connection, namespace }),
      connection: stack.connection,
      ledger: stack.ledger.repo,
      config: { temporal: { namespace } },
    });
    try {
      const { body } = await diagnose(fresh);
      expect(body.sections.temporal).toMatchObject({ status: 'blocking', reasonCodes: ['search_attributes_missing'] });
      expect(body.sections.temporal?.missingSearchAttributes).toContain('PalyraIncidentState');
    } finally {
      await fresh.close();
    }
  });

  it('a ledger migration rolled back is blocking in the ledger section', async () => {
    const db = stack.ledger.connection.db as never;
    const undone = await migrateLedgerDown(db, stack.ledger.connection.dialect);
    try {
      const { body } = await diagnose();
      expect(body.sections.ledger).toMatchObject({
        status: 'blocking',
        reasonCodes: expect.arrayContaining(['migrations_pending']),
      });
      expect(JSON.stringify(body.sections.ledger)).toContain(undone);
    } finally {
      await migrateLedger(db, stack.ledger.connection.dialect);
    }
  });

  it('needs the operator role: a service token gets 403, no token 401', async () => {
    expect((await diagnose(app, testTokens.acmeService)).response.statusCode).toBe(403);
    expect((await diagnose(app, testTokens.operator)).response.statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/console/v1/diagnostics' })).statusCode).toBe(401);
  });

  it('is in the OpenAPI document', async () => {
    const spec = (await app.inject({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, unknown> }>();
    expect(spec.paths['/console/v1/diagnostics']).toHaveProperty('get');
  });
});
