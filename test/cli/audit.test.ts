import { bearer, openTestStack, testTokens, type TestStack } from '../support/app';
import { cliEnv, runCli } from '../support/processes';

let stack: TestStack;
let url: string;

beforeAll(async () => {
  stack = await openTestStack();
  url = await stack.app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await stack?.close();
});

async function palyra(args: string[], token = testTokens.admin) {
  const cli = runCli(['audit', ...args, '--url', url, '--token', token], cliEnv({ PALYRA_CONFIG: '/dev/null' }));
  cli.child.stdin.end();
  const { code } = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

describe('palyra audit (over real HTTP)', () => {
  it('lists entries newest first, filtered, as a table or JSON; a non-admin token is refused', async () => {
    const policy = { scope: { kind: 'global' }, metric: 'cost', window: 'day', hardLimit: 1_000_000, action: 'block' };
    const put = (token: string) =>
      stack.app.inject({ method: 'PUT', url: '/v1/budgets/policies/cli-audit', headers: bearer(token), payload: policy });
    expect((await put(testTokens.admin)).statusCode).toBe(201);
    expect((await put(testTokens.operator)).statusCode).toBe(403);
    await stack.app.auditSettled();

    const table = await palyra(['list', '--action', 'budget.policy.put']);
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^AT\s+ACTOR\s+ACTION\s+TARGET\s+TENANT\s+OUTCOME$/);
    expect(rows).toHaveLength(2);
    // Newest first by time; the two may share a millisecond, so either order is checked by content.
    expect(rows).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\S+\s+operator\s+budget\.policy\.put\s+cli-audit\s+-\s+refused 403 forbidden$/),
        expect.stringMatching(/^\S+\s+admin\s+budget\.policy\.put\s+cli-audit\s+-\s+succeeded$/),
      ]),
    );

    const json = await palyra(['list', '--actor', 'admin', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      items: [expect.objectContaining({ actor: 'admin', action: 'budget.policy.put', outcome: 'succeeded', status: 201 })],
      nextCursor: null,
    });

    const refused = await palyra(['list'], testTokens.operator);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('403');
  });
});
