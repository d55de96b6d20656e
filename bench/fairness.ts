/**
 * Tenant fairness in execution: a quiet tenant's run latency while a busy tenant floods the shared
 * task queue, with runs started as Palyra starts them (`fairnessKey` = tenant) and without a key.
 *
 *   npm run bench -- fairness [--flood 60] [--tokens 200] [--chunk-ms 10] [--quiet 5] [--slots 4]
 *                             [--modes fair,unfair]
 *
 * One dev server of its own, started as `palyra dev` starts it (fairness enabled), a SQLite ledger,
 * the API in-process. Each mode gets a task queue of its own and a worker of `--slots` activity
 * slots, so the flood forms a backlog (each run streams in one activity; the ledger steps are local
 * activities). Tenant A posts `--flood` runs of `--tokens` tokens at `--chunk-ms` each; once all
 * are admitted (their streams are queued), tenant B posts `--quiet` one-token runs at once.
 * B's latency is POST → the run workflow's result (succeeded).
 *
 * Modes, one after the other on the same server: `fair` is the product (the run service sets the
 * tenant as fairness key); `unfair` is the same API whose Temporal client drops the start's
 * Priority in an interceptor, so every task has the empty key and is served first in, first out.
 */
import { setTimeout as delay } from 'node:timers/promises';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client, type WorkflowClientInterceptor } from '@temporalio/client';
import { buildServer } from '../src/api/server';
import { toolsDir } from '../src/cli/temporal-target';
import { createLogger, routeTemporalLogsTo } from '../src/cli/logger';
import { composeServices } from '../src/composition';
import { configSchema, loadConfig } from '../src/config';
import { openConfiguredLedger } from '../src/ledger/setup';
import { connectClient } from '../src/temporal/client';
import { runWorkflowId, type RunDocument } from '../src/temporal/contracts';
import { fairnessDynamicConfig, locateTool, startDevServer, temporalCli } from '../src/temporal/dev-server';
import { registerSearchAttributes } from '../src/temporal/search-attributes';
import { bundlePalyraWorkflows, createPalyraWorker } from '../src/temporal/worker';
import { findFreePort } from '../src/util/net';
import { percentile, writeResults } from './results';

const token = 'bench-admin-token-0123456789';
const modes = ['fair', 'unfair'] as const;
type Mode = (typeof modes)[number];
const busyTenant = 'tenant-a';
const quietTenant = 'tenant-b';

/** The unfair mode's client: the same update-with-start, minus the Priority the service set. */
const dropPriority: WorkflowClientInterceptor = {
  startUpdateWithStart: (input, next) =>
    next({ ...input, workflowStartOptions: { ...input.workflowStartOptions, priority: undefined } }),
};

interface Settings {
  flood: number;
  tokens: number;
  chunkMs: number;
  quiet: number;
  slots: number;
}

interface ModeResult {
  mode: Mode;
  quietLatencyMs: { p50: number; max: number; all: number[] };
  /** How many of A's runs had finished when the last of B's did. */
  floodFinishedBeforeQuiet: number;
  floodQueueMs: number;
  floodDrainMs: number;
  floodRunsPerSecond: number;
  states: Record<string, number>;
}

async function main() {
  const { values } = parseArgs({
    options: {
      flood: { type: 'string', default: '60' },
      tokens: { type: 'string', default: '200' },
      'chunk-ms': { type: 'string', default: '10' },
      quiet: { type: 'string', default: '5' },
      slots: { type: 'string', default: '4' },
      // The order too: the first mode runs on a fresh dev server.
      modes: { type: 'string', default: modes.join(',') },
    },
  });
  const settings: Settings = {
    flood: Number(values.flood),
    tokens: Number(values.tokens),
    chunkMs: Number(values['chunk-ms']),
    quiet: Number(values.quiet),
    slots: Number(values.slots),
  };
  const startedAt = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-bench-fairness-'));
  const cli = locateTool(temporalCli, { toolsDir: toolsDir(loadConfig().config), allowInstall: true });
  const server = await startDevServer({
    cliPath: cli.path,
    port: await findFreePort(),
    uiPort: await findFreePort(),
    dbFile: path.join(dir, 'temporal.db'),
    namespace: 'default',
  });
  // The workers start and stop once per mode: only the SDK's errors are worth printing.
  routeTemporalLogsTo(createLogger({ logLevel: 'error' }, 'bench'));
  const { client, connection } = await connectClient({ address: server.address, namespace: 'default' });
  const results: ModeResult[] = [];
  try {
    await registerSearchAttributes(connection, 'default');
    const workflowBundle = await bundlePalyraWorkflows();
    const chosen = values.modes.split(',').filter((mode): mode is Mode => (modes as readonly string[]).includes(mode));
    for (const mode of chosen) {
      const config = configSchema.parse({
        dataDir: path.join(dir, mode),
        logLevel: 'warn',
        temporal: { address: server.address, taskQueue: `bench-fairness-${mode}` },
        server: { port: await findFreePort(), rateLimit: { max: 1_000_000, timeWindowMs: 60_000 } },
        auth: { tokens: [{ name: 'bench', token, role: 'admin', tenants: ['*'] }] },
        // The flood's answers wait for their admission: at 60 runs, well within this.
        runs: { admissionWaitMs: 30_000 },
      });
      const logger = createLogger(config, 'bench');
      const ledger = await openConfiguredLedger(config, logger);
      const services = composeServices({ config, ledger: ledger.repo });
      const { worker, connection: workerConnection } = await createPalyraWorker({
        address: server.address,
        namespace: 'default',
        taskQueue: config.temporal.taskQueue,
        activities: services.activities,
        workflowBundle,
        maxConcurrentActivityTaskExecutions: settings.slots,
      });
      const working = worker.run();
      const apiClient =
        mode === 'fair' ? client : new Client({ connection, namespace: 'default', interceptors: { workflow: [dropPriority] } });
      const app = await buildServer({
        config,
        logger: false,
        temporal: { client: apiClient, connection, uiUrl: undefined },
        tokens: config.auth.tokens,
        ledger: ledger.repo,
        routePlanner: services.routePlanner,
        version: 'bench',
      });
      const url = await app.listen({ host: '127.0.0.1', port: config.server.port });
      try {
        results.push(await measure(mode, settings, client, url));
      } finally {
        await app.close();
        worker.shutdown();
        await working;
        await workerConnection.close();
        await ledger.close();
      }
    }
  } finally {
    await connection.close();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  report(settings, results, startedAt);
}

async function measure(mode: Mode, settings: Settings, client: Client, url: string): Promise<ModeResult> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const finishedAt = new Map<string, number>();
  const states: Record<string, number> = {};
  const post = async (tenantId: string, i: number, outputTokens: number, chunkDelayMs: number) => {
    const response = await fetch(`${url}/v1/runs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        tenantId,
        principalId: `${tenantId}-svc`,
        messages: [{ role: 'user', content: `fairness benchmark run ${i}` }],
        model: 'sim-standard',
        maxOutputTokens: outputTokens,
        simulation: { outputTokens, chunkDelayMs },
      }),
    });
    if (response.status !== 202) throw new Error(`POST /v1/runs answered ${response.status}: ${await response.text()}`);
    return ((await response.json()) as { runId: string }).runId;
  };
  const follow = async (runId: string) => {
    const run = (await client.workflow.getHandle(runWorkflowId(runId)).result()) as RunDocument;
    finishedAt.set(runId, performance.now());
    states[run.state] = (states[run.state] ?? 0) + 1;
  };

  const floodStart = performance.now();
  const flood = await Promise.all(
    Array.from({ length: settings.flood }, (_, i) => post(busyTenant, i, settings.tokens, settings.chunkMs)),
  );
  const floodQueueMs = performance.now() - floodStart;
  const floodDone = Promise.all(flood.map(follow));

  const quietLatencies = await Promise.all(
    Array.from({ length: settings.quiet }, async (_, i) => {
      const posted = performance.now();
      const runId = await post(quietTenant, i, 1, 0);
      await follow(runId);
      return (finishedAt.get(runId) as number) - posted;
    }),
  );
  const quietDoneAt = performance.now();
  const floodFinishedBeforeQuiet = flood.filter((runId) => (finishedAt.get(runId) ?? Infinity) <= quietDoneAt).length;
  await floodDone;
  const floodDrainMs = Math.max(...flood.map((runId) => finishedAt.get(runId) as number)) - floodStart;
  // Let the worker's last tasks complete before the next mode starts on the same machine.
  await delay(500);
  const sorted = [...quietLatencies].sort((a, b) => a - b);
  return {
    mode,
    quietLatencyMs: { p50: percentile(sorted, 50), max: sorted.at(-1) ?? NaN, all: sorted.map(Math.round) },
    floodFinishedBeforeQuiet,
    floodQueueMs,
    floodDrainMs,
    floodRunsPerSecond: settings.flood / (floodDrainMs / 1000),
    states,
  };
}

function report(settings: Settings, results: ModeResult[], startedAt: number): void {
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '–');
  const idealMs = (settings.flood * settings.tokens * settings.chunkMs) / settings.slots;
  process.stdout.write(
    [
      '',
      '| mode | B runs | B latency p50 ms | B latency max ms | A runs done before B’s last | A drain s | A runs/s | run states |',
      '|---|---|---|---|---|---|---|---|',
      ...results.map(
        (r) =>
          `| ${r.mode} | ${settings.quiet} | ${f(r.quietLatencyMs.p50)} | ${f(r.quietLatencyMs.max)} | ` +
          `${r.floodFinishedBeforeQuiet} / ${settings.flood} | ${(r.floodDrainMs / 1000).toFixed(1)} | ` +
          `${r.floodRunsPerSecond.toFixed(2)} | ${Object.entries(r.states)
            .map(([state, n]) => `${n} ${state}`)
            .join(', ')} |`,
      ),
      '',
      `tenant A: ${settings.flood} runs of ${settings.tokens} tokens × ${settings.chunkMs} ms; tenant B: ${settings.quiet} one-token ` +
        `runs posted once A's were admitted; worker of ${settings.slots} activity slots (A's streams alone: ` +
        `${(idealMs / 1000).toFixed(1)} s of backlog). Dev server dynamic config: ${fairnessDynamicConfig.join(', ')}.`,
      'fair: runs started with fairnessKey = tenant (the product); unfair: the same API, its client dropping the Priority.',
      `wall time ${((Date.now() - startedAt) / 1000).toFixed(0)} s`,
      `results: ${writeResults('fairness', {
        date: new Date().toISOString(),
        settings,
        devServerDynamicConfig: fairnessDynamicConfig,
        results,
      })}`,
      '',
    ].join('\n'),
  );
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
