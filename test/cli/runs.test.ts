import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { PalyraConfig } from '../../src/config';
import { openTestStack, testTokens, type TestStack } from '../support/app';
import type { TestLedger } from '../support/ledger';
import { cliEnv, runCli } from '../support/processes';
import { withTestWorker } from '../support/temporal';

let stack: TestStack;
let ledger: TestLedger;
let app: FastifyInstance;
let config: PalyraConfig;
let url: string;

beforeAll(async () => {
  stack = await openTestStack();
  ({ ledger, app, config } = stack);
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => stack.close());

async function palyra(args: string[], token = testTokens.admin) {
  const cli = runCli(['runs', ...args, '--url', url, '--token', token], cliEnv({ PALYRA_CONFIG: '/dev/null' }));
  const { code } = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

describe('palyra runs (over real HTTP)', () => {
  it('starts a run, follows it to success, lists it, and refuses to cancel or approve it once it has ended', async () => {
    await withTestWorker(
      config,
      async () => {
        const started = await palyra([
          'start',
          '--tenant',
          'acme',
          '--principal',
          'cli',
          '--prompt',
          'hello',
          '--simulate',
          '5',
          '--json',
        ]);
        expect(started.stderr).toBe('');
        const { runId, admission } = JSON.parse(started.stdout);
        expect(admission.status).toBe('admitted');

        let shown = await palyra(['get', runId]);
        for (let i = 0; i < 100 && !shown.stdout.includes('succeeded'); i++) {
          await delay(100);
          shown = await palyra(['get', runId]);
        }
        expect(shown.stdout).toContain(`run ${runId}: succeeded on sim-standard`);
        expect(shown.stdout).toMatch(/usage: \d+ in \/ 5 out tokens, cost \$0\.\d{6}/);
        expect(shown.stdout).toContain('Temporal UI: http://temporal-ui.test:8233/');

        let listed = await palyra(['list', '--tenant', 'acme', '--state', 'succeeded']);
        for (let i = 0; i < 50 && !listed.stdout.includes(runId); i++) {
          await delay(100);
          listed = await palyra(['list', '--tenant', 'acme', '--state', 'succeeded']);
        }
        expect(listed.stdout.split('\n')[0]).toMatch(/^RUN\s+TENANT\s+STATE\s+MODEL\s+COST\s+CREATED$/);
        expect(listed.stdout).toMatch(new RegExp(`${runId}\\s+acme\\s+succeeded\\s+sim-standard`));

        const cancel = await palyra(['cancel', runId]);
        expect(cancel.code).toBe(1);
        expect(cancel.stderr).toBe(`palyra: 409 conflict: run ${runId} is already succeeded; there is nothing to cancel\n`);
        const approve = await palyra(['approve', runId, '--note', 'late']);
        expect(approve.code).toBe(1);
        expect(approve.stderr).toContain('409 conflict: run');
      },
      ledger.repo,
    );
  }, 60_000);

  it('names a bad option value before calling the API', async () => {
    const bad = await palyra(['list', '--state', 'exploded']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("argument 'exploded' is invalid. expected one of queued");
  });
});
