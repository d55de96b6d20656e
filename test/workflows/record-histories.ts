/**
 * Records one workflow history per run path for test/workflows/replay.test.ts:
 *
 *   npx tsx test/workflows/record-histories.ts [--overwrite] [path ...]
 *
 * It starts a Temporal dev server of its own, starts each run through the API (update-with-start,
 * as clients do) against a worker with a fresh SQLite ledger, and writes the closed run's history
 * to test/workflows/histories/<path>.json.
 *
 * Existing files are kept unless --overwrite is given: a recorded history stands for runs that may
 * still be open in production, so a workflow change must replay it as it is (guard the change with
 * `patched()`), not re-record it. Record a new path, or re-record one whose old shape can no longer
 * exist anywhere.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import * as prettier from 'prettier';
import { toolsDir } from '../../src/cli/temporal-target';
import { loadConfig, type PalyraConfigInput } from '../../src/config';
import type { BudgetPolicy } from '../../src/domain/budget';
import { costMicroUsd } from '../../src/domain/pricing';
import { countPromptTokens } from '../../src/price-catalog/tokens';
import { locateTool, startDevServer, temporalCli } from '../../src/temporal/dev-server';
import {
  backgroundTaskId,
  backgroundTaskWorkflowId,
  runStateQuery,
  runWorkflowId,
  type RunDocument,
} from '../../src/temporal/contracts';
import { findFreePort } from '../../src/util/net';
import { bearer, buildTestApp, testTokens } from '../support/app';
import { testEnv } from '../support/env';
import { openTestLedger, type TestLedger } from '../support/ledger';
import { connectTestClient, withTestWorker } from '../support/temporal';

const historiesDir = path.join(__dirname, 'histories');

const prompt = [{ role: 'user' as const, content: 'write a haiku about budgets' }];
const simStandardPrice = { inputMicroUsdPerMTok: 2_500_000, outputMicroUsdPerMTok: 10_000_000 };

interface Scenario {
  /** File stem under histories/. */
  name: string;
  /** The state the recorded run must end in; anything else aborts the recording. */
  expectedState: RunDocument['state'];
  tenantId: string;
  policy?: Omit<BudgetPolicy, 'scope' | 'metric' | 'window' | 'enabled'>;
  body?: Record<string, unknown>;
  config?: PalyraConfigInput;
  /** Provider ids the worker leaves out of its registry (a provider retired while runs were queued). */
  workerLacksProviders?: string[];
  /** What an operator or client does while the run is open. */
  drive?: (run: { runId: string; app: FastifyInstance; client: Client }) => Promise<void>;
  /** Also record the history of the run's task with this sequence number (its last dispatch), under this name. */
  taskHistory?: { name: string; sequence: number };
  /** The run continues as new: also record its first execution's history, under this name. */
  firstExecutionHistory?: string;
}

const decide = (decision: 'approve' | 'deny', note: string) =>
  async function ({ runId, app }: { runId: string; app: FastifyInstance }) {
    const response = await app.inject({
      method: 'POST',
      url: `/v1/runs/${runId}/approval`,
      headers: bearer(testTokens.operator),
      payload: { decision, note },
    });
    if (response.statusCode !== 200) throw new Error(`approval ${decision} answered ${response.statusCode}: ${response.body}`);
  };

/** Retries the run's task `sequence` each time it has failed, until the run has continued as new and once more. */
const retryUntilContinuedAsNew = (sequence: number) =>
  async function ({ runId, app, client }: { runId: string; app: FastifyInstance; client: Client }) {
    const handle = client.workflow.getHandle(runWorkflowId(runId));
    const firstExecution = (await handle.describe()).runId;
    const taskId = backgroundTaskId(runId, sequence);
    for (let retries = 0, afterHandOver = 0; afterHandOver < 1; retries++) {
      if (retries > 40) throw new Error(`the run did not continue as new after ${retries} retries`);
      for (;;) {
        const task = (
          await app.inject({ method: 'GET', url: `/v1/tasks/${taskId}`, headers: bearer(testTokens.operator) })
        ).json();
        if (task.state === 'failed' && task.dispatches === retries + 1) break;
        await delay(20);
      }
      const retried = await app.inject({
        method: 'POST',
        url: `/v1/tasks/${taskId}/retry`,
        headers: bearer(testTokens.operator),
        payload: {},
      });
      if (retried.statusCode !== 200) throw new Error(`retry answered ${retried.statusCode}: ${retried.body}`);
      if ((await handle.describe()).runId !== firstExecution) afterHandOver += 1;
    }
  };

const approvalPolicy = { policyId: 'needs-approval', hardLimit: 10, action: 'approval_required' } as const;
const generousPolicy = { policyId: 'daily', hardLimit: 5_000_000, action: 'block' } as const;

const scenarios: Scenario[] = [
  { name: 'succeeded', expectedState: 'succeeded', tenantId: 'ok-co', policy: generousPolicy },
  {
    name: 'denied-by-budget',
    expectedState: 'denied',
    tenantId: 'denied-co',
    policy: { policyId: 'tiny', hardLimit: 10, action: 'block' },
  },
  {
    name: 'clamped',
    expectedState: 'succeeded',
    tenantId: 'clamp-co',
    // The prompt plus exactly 4 output tokens fit: a request for 50 is clamped to 4.
    policy: {
      policyId: 'clamp',
      hardLimit: costMicroUsd(simStandardPrice, {
        inputTokens: countPromptTokens(prompt, 'sim-standard').inputTokens,
        outputTokens: 4,
      }),
      action: 'block',
    },
    body: { maxOutputTokens: 50, simulation: { outputTokens: 40, chunkDelayMs: 0 } },
  },
  {
    name: 'cancelled-mid-stream',
    expectedState: 'cancelled',
    tenantId: 'cancel-co',
    policy: generousPolicy,
    body: { simulation: { outputTokens: 200, chunkDelayMs: 50 } },
    async drive({ runId, client }) {
      const handle = client.workflow.getHandle(runWorkflowId(runId));
      while ((await handle.query(runStateQuery)).state !== 'running') await delay(20);
      await delay(500); // some tokens stream first, so the cancellation settles a partial usage
      await handle.cancel();
    },
  },
  {
    name: 'approval-approved',
    expectedState: 'succeeded',
    tenantId: 'approve-co',
    policy: approvalPolicy,
    drive: decide('approve', 'quarter-end report'),
  },
  {
    name: 'approval-denied',
    expectedState: 'denied',
    tenantId: 'deny-co',
    policy: approvalPolicy,
    drive: decide('deny', 'not this month'),
  },
  {
    name: 'approval-timed-out',
    expectedState: 'denied',
    tenantId: 'timeout-co',
    policy: approvalPolicy,
    config: { runs: { approvalTimeoutMs: 1_000 } },
  },
  {
    name: 'provider-retry-succeeded',
    expectedState: 'succeeded',
    tenantId: 'retry-co',
    policy: generousPolicy,
    body: { simulation: { outputTokens: 5, chunkDelayMs: 0, failAttempts: 2, failure: 'http_500' } },
  },
  {
    name: 'unknown-provider-failed',
    expectedState: 'failed',
    tenantId: 'retired-co',
    policy: generousPolicy,
    config: {
      providers: [
        { id: 'simulated', kind: 'simulated' },
        { id: 'retired', kind: 'simulated' },
      ],
      models: [
        { id: 'sim-standard', provider: 'simulated', pricing: { inputPerMTokUsd: 2.5, outputPerMTokUsd: 10 } },
        { id: 'sim-retired', provider: 'retired', pricing: { inputPerMTokUsd: 1, outputPerMTokUsd: 2 } },
      ],
    },
    body: { model: 'sim-retired', simulation: undefined },
    workerLacksProviders: ['retired'],
  },
  {
    // Recorded under exact-money-1: a stream cut mid-way is retried, and both attempts are charged.
    name: 'stream-cut-retried',
    expectedState: 'succeeded',
    tenantId: 'cut-co',
    policy: generousPolicy,
    body: { maxOutputTokens: 400, simulation: { outputTokens: 400, chunkDelayMs: 0, failAttempts: 1, failure: 'stream_cut' } },
  },
  {
    // Recorded under exact-money-1: attempt 3 does not fit the budget once two cut attempts are
    // paid, so it is not made and the run fails budget_exceeded.
    name: 'retry-refused-by-budget',
    expectedState: 'failed',
    tenantId: 'retry-budget-co',
    policy: { policyId: 'retries', hardLimit: 7_000, action: 'block' },
    body: { maxOutputTokens: 400, simulation: { outputTokens: 400, chunkDelayMs: 0, failAttempts: 3, failure: 'stream_cut' } },
  },
  {
    name: 'with-background-tasks',
    expectedState: 'succeeded',
    tenantId: 'tasks-co',
    policy: generousPolicy,
    config: { tasks: { retryInitialIntervalMs: 50, retryGraceMs: 0 } },
    body: {
      maxConcurrentChildren: 1,
      backgroundTasks: [
        { kind: 'summary', input: { text: 'Revenue grew.' }, priority: 0, simulation: { outputTokens: 3, chunkDelayMs: 5 } },
        {
          kind: 'classification',
          input: { text: 'refund please', labels: ['billing', 'support'] },
          priority: 5,
          simulation: { outputTokens: 2, chunkDelayMs: 5 },
        },
        {
          kind: 'extraction',
          input: { text: 'Ann, 42', fields: ['name', 'age'] },
          priority: 1,
          simulation: { outputTokens: 4, chunkDelayMs: 5, failAttempts: 1, failure: 'http_500' },
        },
      ],
    },
    taskHistory: { name: 'background-task-retried', sequence: 3 },
  },
  {
    // Recorded under the run-summary-memo-1 patch: the memo is a summary, published once per workflow task.
    name: 'summary-memo-with-background-tasks',
    expectedState: 'succeeded',
    tenantId: 'tasks-co',
    policy: generousPolicy,
    config: { tasks: { retryGraceMs: 0 } },
    body: {
      maxConcurrentChildren: 2,
      backgroundTasks: [0, 1, 2, 3].map((i) => ({
        kind: 'summary',
        input: { text: `Revenue grew in quarter ${i + 1}.` },
        priority: i % 2,
        simulation: { outputTokens: 2, chunkDelayMs: 0 },
      })),
    },
  },
  {
    name: 'background-tasks-cancelled',
    expectedState: 'cancelled',
    tenantId: 'tasks-cancel-co',
    policy: generousPolicy,
    body: {
      maxConcurrentChildren: 1,
      backgroundTasks: [
        { kind: 'summary', input: { text: 'Revenue grew.' }, priority: 1, simulation: { outputTokens: 200, chunkDelayMs: 25 } },
        { kind: 'summary', input: { text: 'Costs fell.' }, priority: 0, simulation: { outputTokens: 3, chunkDelayMs: 5 } },
      ],
    },
    async drive({ runId, client }) {
      const handle = client.workflow.getHandle(runWorkflowId(runId));
      while ((await handle.query(runStateQuery)).backgroundTasks[0]?.state !== 'running') await delay(20);
      await delay(500);
      await handle.cancel();
    },
    taskHistory: { name: 'background-task-cancelled', sequence: 1 },
  },
  {
    // Recorded under run-continue-as-new-1: a task retried until the run's history passes its bound
    // of 100 events; the run continues as new with its state, takes one more retry, and ends.
    name: 'continued-as-new',
    expectedState: 'succeeded',
    tenantId: 'continue-co',
    policy: generousPolicy,
    config: { tasks: { retryGraceMs: 3_000, historyEventsBeforeContinueAsNew: 100 } },
    body: {
      backgroundTasks: [
        { kind: 'summary', input: { text: 'Revenue grew.' }, simulation: { outputTokens: 2, chunkDelayMs: 0 } },
        {
          kind: 'summary',
          input: { text: 'Costs fell.' },
          maxAttempts: 1,
          simulation: { outputTokens: 2, chunkDelayMs: 0, failAttempts: 99, failure: 'http_500' },
        },
      ],
    },
    drive: retryUntilContinuedAsNew(2),
    firstExecutionHistory: 'continued-as-new-first-execution',
  },
];

const recordedPaths = scenarios.map((s) => s.name);

async function record(scenario: Scenario, client: Client, connection: Connection) {
  const ledger: TestLedger = await openTestLedger('sqlite');
  const { app, config } = await buildTestApp({ client, connection, ledger: ledger.repo, config: scenario.config });
  try {
    if (scenario.policy) {
      await ledger.repo.putPolicy({
        ...scenario.policy,
        scope: { kind: 'tenant', id: scenario.tenantId },
        metric: 'cost',
        window: 'day',
        enabled: true,
      });
    }
    const lacking = scenario.workerLacksProviders ?? [];
    const workerConfig = { ...config, providers: config.providers.filter((p) => !lacking.includes(p.id)) };
    const { runId, firstExecution, state } = await withTestWorker(
      workerConfig,
      async () => {
        const started = await app.inject({
          method: 'POST',
          url: '/v1/runs',
          headers: bearer(testTokens.admin),
          payload: {
            tenantId: scenario.tenantId,
            principalId: 'recorder',
            messages: prompt,
            model: 'sim-standard',
            maxOutputTokens: 100,
            simulation: { outputTokens: 6, chunkDelayMs: 5 },
            ...scenario.body,
          },
        });
        const id = (started.json().runId ?? started.json().error?.details?.runId) as string | undefined;
        if (!id) throw new Error(`${scenario.name}: the API answered ${started.statusCode} without a run id: ${started.body}`);
        const handle = client.workflow.getHandle(runWorkflowId(id));
        const firstRunId = (await handle.describe()).runId;
        await scenario.drive?.({ runId: id, app, client });
        await handle.result().catch(() => undefined); // a failed run is a failed workflow; its state is checked below
        // Queried while the worker still runs: a closed workflow's query is answered by replaying it.
        return { runId: id, firstExecution: firstRunId, state: (await handle.query(runStateQuery)).state };
      },
      ledger.repo,
    );
    if (state !== scenario.expectedState) {
      throw new Error(`${scenario.name}: the run ended ${state}, expected ${scenario.expectedState}; nothing written`);
    }
    const files = [await writeHistory(client, runWorkflowId(runId), scenario.name)];
    if (scenario.firstExecutionHistory) {
      files.push(await writeHistory(client, runWorkflowId(runId), scenario.firstExecutionHistory, firstExecution));
    }
    if (scenario.taskHistory) {
      const taskId = backgroundTaskId(runId, scenario.taskHistory.sequence);
      files.push(await writeHistory(client, backgroundTaskWorkflowId(taskId), scenario.taskHistory.name));
    }
    return files;
  } finally {
    await app.close();
    await ledger.close();
  }
}

export async function writeHistory(client: Client, workflowId: string, name: string, runId?: string): Promise<string> {
  const file = path.join(historiesDir, `${name}.json`);
  const json = historyToJSON(await client.workflow.getHandle(workflowId, runId).fetchHistory());
  const formatted = await prettier.format(json, { ...(await prettier.resolveConfig(file)), filepath: file });
  fs.writeFileSync(file, formatted);
  return file;
}

async function main() {
  const args = process.argv.slice(2);
  const overwrite = args.includes('--overwrite');
  const wanted = args.filter((a) => !a.startsWith('--'));
  const unknown = wanted.filter((name) => !recordedPaths.includes(name));
  if (unknown.length > 0) throw new Error(`unknown path(s) ${unknown.join(', ')}; known: ${recordedPaths.join(', ')}`);
  const selected = scenarios.filter((s) => (wanted.length === 0 || wanted.includes(s.name)) && !isKept(s.name, overwrite));
  if (selected.length === 0) {
    process.stdout.write('every selected history is already recorded (pass --overwrite to replace)\n');
    return;
  }

  await withRecordingServer(async (client, connection) => {
    for (const scenario of selected) {
      for (const file of await record(scenario, client, connection)) {
        process.stdout.write(`recorded ${path.relative(process.cwd(), file)} (${fs.statSync(file).size} bytes)\n`);
      }
    }
  });
}

/** Runs `fn` against a dev server of its own (a fresh database), then stops it. */
export async function withRecordingServer(fn: (client: Client, connection: Connection) => Promise<void>): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-record-'));
  const server = await startDevServer({
    cliPath: locateTool(temporalCli, { toolsDir: toolsDir(loadConfig().config), allowInstall: false }).path,
    port: await findFreePort(),
    uiPort: await findFreePort(),
    dbFile: path.join(dir, 'temporal.db'),
    namespace: 'default',
  });
  process.env[testEnv.temporalAddress] = server.address;
  const { client, connection } = await connectTestClient();
  try {
    fs.mkdirSync(historiesDir, { recursive: true });
    await fn(client, connection);
  } finally {
    await connection.close();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function isKept(name: string, overwrite: boolean): boolean {
  const exists = fs.existsSync(path.join(historiesDir, `${name}.json`));
  if (exists && !overwrite) process.stdout.write(`kept histories/${name}.json (pass --overwrite to replace it)\n`);
  return exists && !overwrite;
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exitCode = 1;
  });
}
