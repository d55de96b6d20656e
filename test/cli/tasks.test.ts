import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openTestStack, testTokens, type TestStack } from '../support/app';
import { cliEnv, runCli } from '../support/processes';
import { waitForRunEnd } from '../support/runs';
import { getTask, startRunWithTasks, summaryTask, waitForTask } from '../support/tasks';
import { withTestWorker } from '../support/temporal';

let stack: TestStack;
let url: string;
let dir: string;

beforeAll(async () => {
  // No grace: a run whose tasks have all ended completes at once.
  stack = await openTestStack({ tasks: { retryGraceMs: 0 } });
  url = await stack.app.listen({ host: '127.0.0.1', port: 0 });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-tasks-cli-'));
});
afterAll(async () => {
  await stack.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function palyra(args: string[], options: { token?: string; stdin?: string } = {}) {
  const cli = runCli(
    ['tasks', ...args, '--url', url, '--token', options.token ?? testTokens.operator],
    cliEnv({ PALYRA_CONFIG: '/dev/null' }),
  );
  cli.child.stdin.end(options.stdin ?? '');
  const { code } = await cli.exited;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

/** The ids the API gives a run's first three tasks, in creation order. */
const taskIdsOf = (runId: string) => [1, 2, 3].map((n) => `${runId}-${n}`) as [string, string, string];

function writeJson(name: string, value: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(value));
  return file;
}

describe('palyra tasks (over real HTTP)', () => {
  it('adds tasks to a running run, pauses, refuses an illegal retry, cancels, retries, lists and shows them', async () => {
    const requests = writeJson('tasks.json', [
      summaryTask(),
      { kind: 'classification', input: { text: 'refund please', labels: ['billing', 'support'] }, model: 'sim-small' },
    ]);

    const runId = await withTestWorker(
      stack.config,
      async () => {
        const { runId } = (await startRunWithTasks(stack.app, {
          // Still going when the CLI (about 1.5 s to start) adds its tasks.
          simulation: { outputTokens: 300, chunkDelayMs: 25 },
          maxConcurrentChildren: 1,
          // Holds the only slot until the test cancels it, so added tasks stay queued however slow the CLI starts.
          backgroundTasks: [summaryTask({}, { outputTokens: 2_000, chunkDelayMs: 25 })],
        })) as { runId: string };
        const [slowId, summaryId, classifyId] = taskIdsOf(runId);
        await waitForTask(stack.app, slowId, (task) => task.state === 'running', 'running');

        const added = await palyra(['add', runId, '--file', requests], { token: testTokens.acmeService });
        expect(added).toEqual({ code: 0, stdout: `${summaryId}\n${classifyId}\n`, stderr: '' });

        expect((await palyra(['pause', summaryId])).stdout).toBe(`task ${summaryId}: paused\n`);
        const illegal = await palyra(['retry', summaryId]);
        expect(illegal.code).toBe(1);
        expect(illegal.stdout).toBe('');
        expect(illegal.stderr).toBe(
          `palyra: 409 conflict: task ${summaryId} is paused; retry is only possible from failed, cancelled, expired\n`,
        );
        expect((await palyra(['cancel', summaryId])).stdout).toBe(`task ${summaryId}: cancelled\n`);

        const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
        const retried = await palyra(['retry', summaryId, '--expires-at', expiresAt]);
        expect(retried.stdout).toBe(`task ${summaryId}: queued, expires ${expiresAt}\n`);

        expect((await palyra(['cancel', slowId])).stdout).toBe(`task ${slowId}: cancel_requested\n`);
        const run = await waitForRunEnd(stack.app, runId);
        expect(run.state).toBe('succeeded');
        return runId;
      },
      stack.ledger.repo,
    );
    const [slowId, summaryId, classifyId] = taskIdsOf(runId);

    const [listed, shown, asJson] = await Promise.all([
      palyra(['list', runId]),
      palyra(['get', classifyId]),
      palyra(['get', slowId, '--json']),
    ]);
    const [header, ...rows] = listed.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^TASK\s+KIND\s+STATE\s+ATTEMPT\s+PRIORITY\s+COST µUSD\s+ERROR$/);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(new RegExp(`^${slowId}\\s+summary\\s+cancelled\\s+1/3\\s+0\\s+[1-9]\\d*\\s+cancelled_by_operator$`));
    expect(rows[1]).toMatch(new RegExp(`^${summaryId}\\s+summary\\s+succeeded\\s+1/3\\s+0\\s+[1-9]\\d*\\s+-$`));
    expect(rows[2]).toMatch(new RegExp(`^${classifyId}\\s+classification\\s+succeeded\\s+1/3\\s+0\\s+[1-9]\\d*\\s+-$`));

    expect(shown.stdout).toMatch(new RegExp(`^task ${classifyId}: succeeded \\(classification, attempt 1/3\\) on sim-`));
    expect(shown.stdout).toContain(`  run ${runId}, priority 0, created `);
    expect(shown.stdout).toMatch(/ {2}cost \$0\.\d{6} over 1 dispatch\n/);
    expect(shown.stdout).toMatch(/ {2}result: \S/);
    expect(shown.stdout).toContain('Temporal UI: http://temporal-ui.test:8233/');

    expect(JSON.parse(asJson.stdout)).toEqual(await getTask(stack.app, slowId));
  }, 60_000);

  it('names a bad option value before calling the API', async () => {
    const [missing, invalid, notAnArray, notIso] = await Promise.all([
      palyra(['add', 'some-run', '--file', path.join(dir, 'missing.json')]),
      palyra(['add', 'some-run', '--file', '-'], { stdin: '[{"kind": ' }),
      palyra(['add', 'some-run', '--file', writeJson('one.json', summaryTask())]),
      palyra(['retry', 'some-task', '--expires-at', 'tomorrow']),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/option '--file <path>' argument '.*missing\.json' is invalid\. cannot read it \(ENOENT/);

    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("option '--file <path>' argument '-' is invalid. not valid JSON");

    expect(notAnArray.code).toBe(1);
    expect(notAnArray.stderr).toMatch(/argument '.*one\.json' is invalid\. expected a non-empty JSON array of task requests/);

    expect(notIso.code).toBe(1);
    expect(notIso.stderr).toContain("option '--expires-at <iso>' argument 'tomorrow' is invalid. expected an ISO 8601 date-time");
  });
});
