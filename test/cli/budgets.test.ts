import type { FastifyInstance } from 'fastify';
import { openTestStack, testTokens, type TestStack } from '../support/app';
import type { TestLedger } from '../support/ledger';
import { cliEnv, runCli } from '../support/processes';

let stack: TestStack;
let ledger: TestLedger;
let app: FastifyInstance;
let url: string;

beforeAll(async () => {
  stack = await openTestStack();
  ({ ledger, app } = stack);
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => stack.close());

async function palyra(args: string[], token = testTokens.admin) {
  const cli = runCli(['budgets', ...args, '--url', url, '--token', token], cliEnv({ PALYRA_CONFIG: '/dev/null' }));
  const { code } = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

describe('palyra budgets (over real HTTP)', () => {
  it('sets a policy in dollars, lists it and shows its usage', async () => {
    const set = await palyra([
      'set',
      'acme-daily',
      '--scope',
      'tenant:acme',
      '--metric',
      'cost',
      '--window',
      'day',
      '--hard',
      '5',
      '--soft',
      '4.5',
    ]);
    expect(set.stderr).toBe('');
    expect(set.stdout).toBe('policy acme-daily: tenant:acme cost per day, hard $5.00, block\n');
    expect((await ledger.repo.getPolicy('acme-daily'))?.hardLimit).toBe(5_000_000);

    const list = await palyra(['list']);
    expect(list.stdout.split('\n')[0]).toMatch(/^POLICY\s+SCOPE\s+METRIC\s+WINDOW\s+SOFT\s+HARD\s+ACTION\s+ENABLED\s+SOURCE$/);
    expect(list.stdout).toMatch(/acme-daily\s+tenant:acme\s+cost\s+day\s+\$4\.50\s+\$5\.00\s+block\s+yes\s+api/);

    const usage = await palyra(['usage', '--json']);
    const parsed = JSON.parse(usage.stdout);
    expect(parsed.policies[0]).toMatchObject({ policyId: 'acme-daily', spent: 0, limit: 5_000_000, status: 'ok' });
  }, 60_000);

  it('prints the API’s error in one line and exits non-zero', async () => {
    const refused = await palyra(['set', 'bad', '--scope', 'tenant', '--metric', 'tokens', '--window', 'day', '--hard', '10']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('palyra: 400 validation_failed: invalid request: body.scope.id: a tenant scope needs an id\n');
    const forbidden = await palyra(['list'], testTokens.acmeService);
    expect(forbidden.stderr).toMatch(/^palyra: 403 forbidden: token 'acme-svc' has role 'service'/);
    const badMetric = await palyra(['set', 'x', '--scope', 'global', '--metric', 'dollars', '--window', 'day', '--hard', '1']);
    expect(badMetric.code).not.toBe(0);
    expect(badMetric.stderr).toContain("option '--metric <metric>' argument 'dollars' is invalid. expected one of cost, tokens");
  }, 60_000);
});
