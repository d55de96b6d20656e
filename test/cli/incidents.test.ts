import { openTestStack, testTokens, type TestStack } from '../support/app';
import { approvalWaitingFinding, openIncident, waitForIncident } from '../support/incident-findings';
import { cliEnv, runCli } from '../support/processes';
import { startSupervisorTestWorker } from '../support/temporal';
import { incidentWorkflowId } from '../../src/temporal/contracts';

let stack: TestStack;
let url: string;
let worker: { stop(): Promise<void> };
const opened: string[] = [];

beforeAll(async () => {
  stack = await openTestStack();
  url = await stack.app.listen({ host: '127.0.0.1', port: 0 });
  worker = await startSupervisorTestWorker(stack.config, stack.ledger.repo);
});
afterAll(async () => {
  await Promise.all(
    opened.map((id) =>
      stack.client.workflow
        .getHandle(incidentWorkflowId(id))
        .terminate('test over')
        .catch(() => undefined),
    ),
  );
  await worker?.stop();
  await stack?.close();
});

async function palyra(args: string[], token = testTokens.admin) {
  const cli = runCli(['incidents', ...args, '--url', url, '--token', token], cliEnv({ PALYRA_CONFIG: '/dev/null' }));
  cli.child.stdin.end();
  const { code } = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

async function openAwaiting(tenantId: string): Promise<string> {
  const incidentId = await openIncident(
    stack.client,
    stack.config.temporal.supervisorTaskQueue,
    approvalWaitingFinding(tenantId),
  );
  opened.push(incidentId);
  await waitForIncident(stack.app, incidentId, (incident) => incident.state === 'awaiting_approval', 'awaiting_approval');
  return incidentId;
}

describe('palyra incidents (over real HTTP)', () => {
  it('lists, shows, refuses an illegal action, rejects with a note and resolves incidents', async () => {
    const [first, second] = [await openAwaiting('acme'), await openAwaiting('acme')];

    const [listed, shown, asJson] = await Promise.all([
      palyra(['list', '--state', 'awaiting_approval', '--detector', 'approval_waiting', '--limit', '100'], testTokens.acmeAdmin),
      palyra(['get', first], testTokens.operator),
      palyra(['get', second, '--json'], testTokens.operator),
    ]);
    expect(listed.code).toBe(0);
    const [header, ...rows] = listed.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^INCIDENT\s+STATE\s+SEVERITY\s+DETECTOR\s+SUBJECT\s+TENANT\s+UPDATED$/);
    const ours = rows.filter((row) => row.startsWith(first) || row.startsWith(second));
    // Newest first.
    expect(ours).toHaveLength(2);
    expect(ours[0]).toMatch(
      new RegExp(`^${second}\\s+awaiting_approval\\s+low\\s+approval_waiting\\s+run [0-9a-f-]{36}\\s+acme\\s+\\S+$`),
    );
    expect(ours[1]).toMatch(new RegExp(`^${first}\\s+awaiting_approval\\s+`));

    expect(shown.stdout).toMatch(new RegExp(`^incident ${first}: awaiting_approval, low approval_waiting\n`));
    expect(shown.stdout).toMatch(/\n {2}subject run [0-9a-f-]{36}, tenant acme; seen \d+ times?, created /);
    expect(shown.stdout).toContain('  remediation deny_approval: Deny the pending approval (medium risk, needs approval)\n');
    expect(shown.stdout).toContain(`  Temporal UI: http://temporal-ui.test:8233/namespaces/default/workflows/${first}/`);

    const api = await stack.app.inject({
      method: 'GET',
      url: `/v1/incidents/${second}`,
      headers: { authorization: `Bearer ${testTokens.admin}` },
    });
    expect(JSON.parse(asJson.stdout)).toEqual(api.json());

    const illegal = await palyra(['retry', first]);
    expect(illegal).toEqual({
      code: 1,
      stdout: '',
      stderr: `palyra: 409 conflict: incident ${first} is awaiting_approval; retry is only possible from failed\n`,
    });
    const forbidden = await palyra(['resolve', first], testTokens.operator);
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/^palyra: 403 forbidden: /);

    const rejected = await palyra(['reject', first, '--note', 'the customer decides']);
    expect(rejected).toEqual({ code: 0, stdout: `incident ${first}: resolved (rejected)\n`, stderr: '' });
    const resolved = await palyra(['resolve', second, '--json']);
    expect(JSON.parse(resolved.stdout)).toMatchObject({ incidentId: second, state: 'resolved', resolution: 'resolved_by_sre' });

    const history = await palyra(['get', first]);
    expect(history.stdout).toMatch(/\n {4}\S+ decided by admin: reject: the customer decides\n/);
  });

  it('names a bad option value before calling the API', async () => {
    const [state, note] = await Promise.all([
      palyra(['list', '--state', 'stuck']),
      palyra(['approve', 'incident-0000000000000000', '--note', 'x'.repeat(1_001)]),
    ]);
    expect(state.code).toBe(1);
    expect(state.stderr).toContain(
      "option '--state <state>' argument 'stuck' is invalid. expected one of open, awaiting_approval",
    );
    expect(note.code).toBe(1);
    expect(note.stderr).toContain("option '--note <text>' argument");
    expect(note.stderr).toContain('is invalid. at most 1000 characters');
  });
});
