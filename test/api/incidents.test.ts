import Fastify, { type FastifyInstance } from 'fastify';
import { setTimeout as delay } from 'node:timers/promises';
import { metricsPlugin, scrapeCacheMs, type OpenIncidentsSource } from '../../src/api/plugins/metrics';
import { incidentDecideSignal, incidentWorkflowId } from '../../src/temporal/contracts';
import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';
import { approvalWaitingFinding, noPollersFinding, openIncident, waitForIncident } from '../support/incident-findings';
import { startSupervisorTestWorker, testConfig } from '../support/temporal';

/**
 * The incidents API against the real dev server: incidents are opened the way the supervisor opens
 * them (signal-with-start of the incident workflow) and are then read, filtered and decided through
 * the API, or decided by the `decide` signal as from the Temporal CLI.
 */
let stack: TestStack;
let app: FastifyInstance;
let worker: { stop(): Promise<void> };
beforeAll(async () => {
  stack = await openTestStack();
  app = stack.app;
  worker = await startSupervisorTestWorker(stack.config, stack.ledger.repo);
});
afterAll(async () => {
  await worker?.stop();
  await stack?.close();
});

const open = (finding = approvalWaitingFinding('acme')) =>
  openIncident(stack.client, stack.config.temporal.supervisorTaskQueue, finding);
const awaitingApproval = (incidentId: string, token?: string) =>
  waitForIncident(app, incidentId, (incident) => incident.state === 'awaiting_approval', 'awaiting_approval', token);

const getIncident = (incidentId: string, token = testTokens.admin) =>
  app.inject({ method: 'GET', url: `/v1/incidents/${incidentId}`, headers: bearer(token) });
const decide = (incidentId: string, payload: Record<string, unknown>, token = testTokens.admin) =>
  app.inject({ method: 'POST', url: `/v1/incidents/${incidentId}/actions`, headers: bearer(token), payload });

/** Every incident a listing reaches by following its cursors, checking each page on the way. */
async function listAll(query: string, token: string): Promise<{ incidentId: string; tenantId?: string; state: string }[]> {
  const limit = Number(new URLSearchParams(query).get('limit') ?? 20);
  const seen: { incidentId: string; tenantId?: string; state: string }[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 500; page++) {
    const url: string = `/v1/incidents?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const response = await app.inject({ method: 'GET', url, headers: bearer(token) });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.items.length).toBeLessThanOrEqual(limit);
    seen.push(...body.items);
    cursor = body.nextCursor;
    if (!cursor) {
      // Never the same incident twice across pages.
      expect(new Set(seen.map((i) => i.incidentId)).size).toBe(seen.length);
      return seen;
    }
  }
  throw new Error(`listing ${query} did not end`);
}
/** Retries `check` while visibility catches up with what the workflows just wrote (it is updated asynchronously). */
async function eventually(check: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await check();
    } catch (error) {
      if (attempt >= 30) throw error;
      await delay(200);
    }
  }
}
const idsOf = (items: { incidentId: string }[]) => items.map((item) => item.incidentId);
/** `ids` in the order the listing gave them. */
const orderOf = (items: { incidentId: string }[], ids: string[]) => idsOf(items).filter((id) => ids.includes(id));

describe('incidents API on the dev server', () => {
  let acme: string[];
  let globex: string;
  let installationWide: string;

  beforeAll(async () => {
    // Started one after the other, so newest first is the reverse order.
    acme = [];
    for (let i = 0; i < 3; i++) acme.push(await open());
    globex = await open(approvalWaitingFinding('globex'));
    installationWide = await open(noPollersFinding());
    await Promise.all([...acme, globex, installationWide].map((id) => awaitingApproval(id)));
  });

  it('lists incidents newest first, filtered by state, detector and severity, page by page', async () => {
    let listed: Awaited<ReturnType<typeof listAll>> = [];
    await eventually(async () => {
      listed = await listAll('detector=approval_waiting&state=awaiting_approval&limit=2', testTokens.operator);
      expect(orderOf(listed, [...acme, globex])).toEqual([globex, ...[...acme].reverse()]);
    });
    expect(idsOf(listed)).not.toContain(installationWide);
    for (const incident of listed) expect(incident).toMatchObject({ state: 'awaiting_approval' });

    const [first] = listed.filter((incident) => incident.incidentId === acme[0]);
    expect(first).toMatchObject({
      incidentId: acme[0],
      detector: 'approval_waiting',
      severity: 'low',
      tenantId: 'acme',
      subject: { kind: 'run' },
      remediation: { id: 'deny_approval', requiresApproval: true, autoExecutable: false },
      temporal: { workflowId: acme[0], runId: expect.any(String), uiUrl: expect.stringContaining(`/workflows/${acme[0]}/`) },
    });

    await eventually(async () => {
      const critical = await listAll('severity=critical&detector=no_pollers&limit=100', testTokens.operator);
      expect(idsOf(critical)).toContain(installationWide);
      expect(idsOf(critical)).not.toContain(acme[0]);
    });
    const resolvedOnly = await listAll('state=resolved&detector=approval_waiting&limit=100', testTokens.operator);
    expect(idsOf(resolvedOnly)).not.toContain(acme[0]);
  });

  it("shows a tenant-scoped token its tenants' incidents only, in full pages of the filtered listing", async () => {
    await eventually(async () => {
      const scoped = await listAll('detector=approval_waiting&limit=2', testTokens.acmeAdmin);
      expect(orderOf(scoped, [...acme, globex])).toEqual([...acme].reverse());
      for (const incident of scoped) expect(incident.tenantId).toBe('acme');
    });
    const wide = await listAll('detector=no_pollers&limit=100', testTokens.acmeAdmin);
    expect(idsOf(wide)).not.toContain(installationWide);

    for (const hidden of [globex, installationWide]) {
      const response = await getIncident(hidden, testTokens.acmeAdmin);
      expect(response.statusCode).toBe(404);
      expect(response.json().error).toEqual({ code: 'not_found', message: `incident ${hidden} not found` });
      const action = await decide(hidden, { action: 'resolve' }, testTokens.acmeAdmin);
      expect(action.statusCode).toBe(404);
    }
    expect((await getIncident(acme[0]!, testTokens.acmeAdmin)).statusCode).toBe(200);
    expect((await getIncident(installationWide, testTokens.operator)).json()).toMatchObject({
      detector: 'no_pollers',
      severity: 'critical',
      subject: { kind: 'task_queue' },
    });
    expect((await getIncident(installationWide, testTokens.operator)).json().tenantId).toBeUndefined();
  });

  it('refuses an illegal decision with a 409 naming the state, and records a legal one under the token name', async () => {
    const incidentId = acme[0]!;
    const illegal = await decide(incidentId, { action: 'retry' });
    expect(illegal.statusCode).toBe(409);
    expect(illegal.json().error.code).toBe('conflict');
    expect(illegal.json().error.message).toMatch(new RegExp(`^incident ${incidentId} is awaiting_approval; retry `));

    const rejected = await decide(incidentId, { action: 'reject', note: 'the run is fine, the customer will decide' });
    expect(rejected.statusCode).toBe(200);
    expect(rejected.json()).toMatchObject({
      incidentId,
      state: 'resolved',
      resolution: 'rejected',
      resolvedAt: expect.any(String),
    });
    expect(rejected.json().history).toContainEqual(
      expect.objectContaining({ kind: 'decided', by: 'admin', detail: expect.stringContaining('the customer will decide') }),
    );
    expect(rejected.json().attempts).toEqual([]);

    const read = await getIncident(incidentId);
    expect(read.json()).toMatchObject({ state: 'resolved', resolution: 'rejected' });

    const again = await decide(incidentId, { action: 'resolve' });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.message).toMatch(new RegExp(`^incident ${incidentId} is resolved`));
  });

  it('approving runs the remediation on the approver’s behalf; resolve closes the incident by hand', async () => {
    const incidentId = acme[1]!;
    const approved = await decide(incidentId, { action: 'approve' });
    expect(approved.statusCode).toBe(200);
    expect(approved.json().state).toBe('remediating');

    // The remediation acts on a run that does not exist: whatever it reports is recorded as by the approver.
    const after = await waitForIncident(app, incidentId, (incident) => incident.attempts.length > 0, 'remediated');
    expect(after.attempts[0]).toMatchObject({ remediationId: 'deny_approval', by: 'admin' });
    if (after.state !== 'resolved') {
      const resolved = await decide(incidentId, { action: 'resolve', note: 'handled by hand' });
      expect(resolved.statusCode).toBe(200);
      expect(resolved.json()).toMatchObject({ state: 'resolved', resolution: 'resolved_by_sre' });
    }
  });

  it('takes a decision sent as the `decide` signal (as from the Temporal CLI) like one through the API', async () => {
    const incidentId = acme[2]!;
    const handle = stack.client.workflow.getHandle(incidentWorkflowId(incidentId));
    // A signal cannot be refused: an illegal one is kept in the history as ignored.
    await handle.signal(incidentDecideSignal, { action: 'retry', by: 'alice' });
    await handle.signal(incidentDecideSignal, { action: 'resolve', by: 'alice', note: 'seen in the Temporal UI' });
    const resolved = await waitForIncident(app, incidentId, (incident) => incident.state === 'resolved', 'resolved');
    expect(resolved.resolution).toBe('resolved_by_sre');
    const byAlice = resolved.history.filter((entry: { by?: string }) => entry.by === 'alice');
    expect(byAlice).toContainEqual(expect.objectContaining({ kind: 'decided', detail: expect.stringMatching(/^ignored retry/) }));
    expect(byAlice).toContainEqual(
      expect.objectContaining({ kind: 'decided', detail: expect.stringContaining('seen in the Temporal UI') }),
    );
  });

  it('counts open incidents by detector and severity in palyra_incidents_open', async () => {
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const figure = (labels: string) => {
      const match = new RegExp(`^palyra_incidents_open\\{${labels}\\} (\\d+)$`, 'm').exec(metrics);
      return match ? Number(match[1]) : undefined;
    };
    // Other test files open incidents on the same server too: at least ours are counted.
    expect(figure('detector="approval_waiting",severity="low"')).toBeGreaterThanOrEqual(1); // globex's
    expect(figure('detector="no_pollers",severity="critical"')).toBeGreaterThanOrEqual(1);
    expect(figure('detector="spend_spike",severity="high"')).toBeDefined();
    expect(metrics).toMatch(/^palyra_incidents_scrape_failures_total 0$/m);
  });

  it('answers 400 for a malformed id, query or body, 404 for an unknown incident, 403 for an operator deciding', async () => {
    const malformed = await getIncident('incident-XYZ');
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error.message).toContain('params.incidentId');

    const unknown = await getIncident('incident-0000000000000000');
    expect(unknown.statusCode).toBe(404);
    expect((await decide('incident-0000000000000000', { action: 'resolve' })).statusCode).toBe(404);

    for (const query of ['limit=0', 'limit=101', 'state=stuck', 'detector=gremlins', 'severity=dire', 'cursor=not-ours']) {
      const response = await app.inject({ method: 'GET', url: `/v1/incidents?${query}`, headers: bearer(testTokens.operator) });
      expect(response.statusCode).toBe(400);
      expect(response.json().error.message).toMatch(new RegExp(`query(string)?\\.${query.split('=')[0]}\\b`));
    }
    const badAction = await decide(globex, { action: 'explode' });
    expect(badAction.statusCode).toBe(400);
    expect(badAction.json().error.message).toContain('body.action');
    const longNote = await decide(globex, { action: 'resolve', note: 'x'.repeat(1_001) });
    expect(longNote.statusCode).toBe(400);
    expect(longNote.json().error.message).toContain('body.note');

    const operator = await decide(globex, { action: 'resolve' }, testTokens.operator);
    expect(operator.statusCode).toBe(403);
    expect(operator.json().error.code).toBe('forbidden');
    expect((await app.inject({ method: 'GET', url: '/v1/incidents', headers: bearer(testTokens.acmeService) })).statusCode).toBe(
      403,
    );
    // None of the refusals touched it.
    expect((await getIncident(globex)).json().state).toBe('awaiting_approval');
  });

  it('documents every incident route in the OpenAPI document, with its request and error schemas', async () => {
    const spec = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    const list = spec.paths['/v1/incidents'].get;
    expect(list.parameters.map((p: { name: string }) => p.name)).toEqual(['state', 'detector', 'severity', 'limit', 'cursor']);
    expect(Object.keys(spec.paths['/v1/incidents/{incidentId}'].get.responses)).toEqual(
      expect.arrayContaining(['200', '400', '404', '503']),
    );
    const act = spec.paths['/v1/incidents/{incidentId}/actions'].post;
    expect(act.description).toContain('409');
    expect(act.requestBody.content['application/json'].schema).toBeDefined();
    expect(Object.keys(act.responses)).toEqual(expect.arrayContaining(['200', '400', '403', '404', '409']));
  });

  it('reads an incident from its memo once no worker answers its query', async () => {
    const config = testConfig();
    const supervisorWorker = await startSupervisorTestWorker(config, stack.ledger.repo);
    let incidentId: string;
    try {
      incidentId = await openIncident(stack.client, config.temporal.supervisorTaskQueue, approvalWaitingFinding('acme'));
      await awaitingApproval(incidentId);
    } finally {
      await supervisorWorker.stop();
    }
    const started = Date.now();
    const response = await getIncident(incidentId, testTokens.acmeAdmin);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ incidentId, state: 'awaiting_approval', tenantId: 'acme' });
    expect(Date.now() - started).toBeLessThan(8_000);
    await stack.client.workflow.getHandle(incidentWorkflowId(incidentId)).terminate('test over');
    // A decision for an incident whose workflow has ended is refused with the state it ended in.
    const decided = await decide(incidentId, { action: 'approve' });
    expect(decided.statusCode).toBe(409);
    expect(decided.json().error.message).toBe(
      `incident ${incidentId} is awaiting_approval but its workflow has ended (terminated); it takes no more decisions`,
    );
  });

  afterAll(async () => {
    // Leave nothing open on the shared server for other files' listings and gauges.
    await Promise.all(
      [...acme, globex, installationWide].map((id) =>
        stack.client.workflow
          .getHandle(incidentWorkflowId(id))
          .terminate('test over')
          .catch(() => undefined),
      ),
    );
  });
});

describe('palyra_incidents_open', () => {
  let metricsApp: FastifyInstance;
  let calls = 0;
  let answer: () => Promise<Awaited<ReturnType<OpenIncidentsSource['openCounts']>>>;
  let now = 1_000_000;
  beforeAll(async () => {
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    metricsApp = Fastify();
    await metricsApp.register(metricsPlugin, {
      incidents: {
        openCounts: () => {
          calls += 1;
          return answer();
        },
      },
    });
    await metricsApp.ready();
  });
  afterAll(async () => {
    jest.restoreAllMocks();
    await metricsApp.close();
  });

  const scrape = () => metricsApp.metrics.metrics();
  const series = (text: string) =>
    text.split('\n').filter((line) => /^palyra_incidents_(open|scrape_failures_total)[{ ]/.test(line));

  it('reads at most once per interval, keeps the last figures when a read fails, and counts the failure', async () => {
    answer = async () => {
      throw new Error('visibility unavailable');
    };
    // Before any read succeeded there is nothing to report but the failure.
    expect(series(await scrape())).toEqual(['palyra_incidents_scrape_failures_total 1']);

    now += scrapeCacheMs;
    answer = async () => [{ detector: 'stalled_stream', severity: 'high', count: 2 }];
    const [first, concurrent] = await Promise.all([scrape(), scrape()]);
    // Concurrent scrapes share one read.
    expect(calls).toBe(2);
    const figures = series(first);
    expect(series(concurrent)).toEqual(figures);
    expect(figures).toContain('palyra_incidents_open{detector="stalled_stream",severity="high"} 2');
    expect(figures).toContain('palyra_incidents_open{detector="no_pollers",severity="critical"} 0');
    expect(figures.filter((line) => line.startsWith('palyra_incidents_open{'))).toHaveLength(9 * 4);

    // Within the interval the figures come from the cache.
    now += scrapeCacheMs - 1;
    answer = async () => [];
    expect(series(await scrape())).toEqual(figures);
    expect(calls).toBe(2);

    now += 1;
    answer = () => delay(5).then(() => Promise.reject(new Error('deadline exceeded')));
    const failed = series(await scrape());
    expect(calls).toBe(3);
    expect(failed).toContain('palyra_incidents_open{detector="stalled_stream",severity="high"} 2');
    expect(failed).toContain('palyra_incidents_scrape_failures_total 2');
  });
});
