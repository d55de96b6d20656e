/**
 * `GET /console/v1/diagnostics` latency on a healthy installation: a dev server of its own, the
 * ledger (SQLite) with a few budget policies, a run worker, a supervisor worker and the supervisor's
 * schedule, as `palyra dev` starts them. Sequential requests over HTTP after a warm-up; also the p99
 * of each section's own gathering time. Target: p99 under 500 ms.
 *
 *   npm run bench -- diagnostics [requests=300]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildServer } from '../src/api/server';
import { createLogger, routeTemporalLogsTo } from '../src/cli/logger';
import { startSupervisorWorker, startWorker } from '../src/cli/services';
import { toolsDir } from '../src/cli/temporal-target';
import { composeServices } from '../src/composition';
import { configSchema, loadConfig } from '../src/config';
import type { DiagnosticsSnapshot } from '../src/diagnostics';
import { openConfiguredLedger } from '../src/ledger/setup';
import { connectClient } from '../src/temporal/client';
import { locateTool, startDevServer, temporalCli } from '../src/temporal/dev-server';
import { registerSearchAttributes } from '../src/temporal/search-attributes';
import { deleteSupervisorSchedule, ensureSupervisorSchedule } from '../src/temporal/supervisor-schedule';
import { findFreePort } from '../src/util/net';
import { percentile, reportMeasures } from './results';

const targetP99Ms = 500;
const warmUpRequests = 10;
const token = 'bench-admin-token-0123456789';

async function openStack() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-bench-diagnostics-'));
  const cli = locateTool(temporalCli, { toolsDir: toolsDir(loadConfig().config), allowInstall: true });
  const server = await startDevServer({
    cliPath: cli.path,
    port: await findFreePort(),
    uiPort: await findFreePort(),
    dbFile: path.join(dir, 'temporal.db'),
    namespace: 'default',
  });
  const config = configSchema.parse({
    dataDir: dir,
    logLevel: 'warn',
    temporal: { address: server.address, taskQueue: 'bench-diagnostics', supervisorTaskQueue: 'bench-diagnostics-supervisor' },
    server: { port: await findFreePort(), rateLimit: { max: 1_000_000, timeWindowMs: 60_000 } },
    auth: { tokens: [{ name: 'bench', token, role: 'admin', tenants: ['*'] }] },
    budgets: {
      policies: ['acme', 'globex', 'initech'].map((tenant) => ({
        policyId: `${tenant}-daily`,
        scope: { kind: 'tenant', id: tenant },
        metric: 'cost',
        window: 'day',
        hardLimit: 100_000_000,
        action: 'block',
      })),
    },
  });
  const logger = createLogger(config, 'bench');
  routeTemporalLogsTo(logger);
  const { client, connection } = await connectClient({ address: server.address, namespace: 'default' });
  await registerSearchAttributes(connection, 'default');
  const ledger = await openConfiguredLedger(config, logger);
  const services = composeServices({ config, ledger: ledger.repo });
  const worker = await startWorker(config, server.address, logger, services);
  const supervisor = await startSupervisorWorker(config, server.address, logger, {
    ledger: ledger.repo,
    client,
    temporalUiUrl: undefined,
  });
  await ensureSupervisorSchedule(client, config);
  const app = await buildServer({
    config,
    logger: false,
    temporal: { client, connection, uiUrl: undefined },
    tokens: config.auth.tokens,
    ledger: ledger.repo,
    sweeper: ledger.sweeper,
    routePlanner: services.routePlanner,
    providerHealth: services.providerHealth,
    version: 'bench',
  });
  const url = await app.listen({ host: '127.0.0.1', port: config.server.port });
  return {
    url,
    async close() {
      await app.close();
      await deleteSupervisorSchedule(client, config);
      await supervisor.stop();
      await worker.stop();
      await ledger.close();
      await connection.close();
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main() {
  const requests = Number(process.argv[2] ?? 300);
  const stack = await openStack();
  try {
    const get = async () => {
      const startedAt = performance.now();
      const response = await fetch(`${stack.url}/console/v1/diagnostics`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await response.json()) as DiagnosticsSnapshot;
      if (response.status !== 200) throw new Error(`diagnostics answered ${response.status}`);
      return { ms: performance.now() - startedAt, body };
    };
    // Until both queues are polled: the figure is for a healthy installation.
    const readyBy = Date.now() + 30_000;
    while ((await get()).body.sections.taskQueues.status !== 'ok') {
      if (Date.now() > readyBy) throw new Error('the task queues did not become healthy within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    for (let i = 0; i < warmUpRequests; i++) await get();

    const latencies: number[] = [];
    const sectionMs = new Map<string, number[]>();
    const statuses = new Map<string, number>();
    for (let i = 0; i < requests; i++) {
      const { ms, body } = await get();
      latencies.push(ms);
      statuses.set(body.status, (statuses.get(body.status) ?? 0) + 1);
      for (const [name, section] of Object.entries(body.sections)) {
        sectionMs.set(name, [...(sectionMs.get(name) ?? []), section.durationMs]);
      }
    }
    latencies.sort((a, b) => a - b);
    const round = (ms: number) => Math.round(ms * 10) / 10;
    const summary = {
      requests,
      p50Ms: round(percentile(latencies, 50)),
      p95Ms: round(percentile(latencies, 95)),
      p99Ms: round(percentile(latencies, 99)),
      maxMs: round(latencies[latencies.length - 1] as number),
      targetP99Ms,
      overallStatuses: Object.fromEntries(statuses),
      sectionP99Ms: Object.fromEntries(
        [...sectionMs].map(([name, values]) => [
          name,
          percentile(
            [...values].sort((a, b) => a - b),
            99,
          ),
        ]),
      ),
      machine: { cpus: os.cpus().length, node: process.version },
    };
    reportMeasures(
      'diagnostics',
      [
        ['requests', String(requests)],
        ['p50', `${summary.p50Ms} ms`],
        ['p95', `${summary.p95Ms} ms`],
        ['p99', `${summary.p99Ms} ms`],
        ['max', `${summary.maxMs} ms`],
        ...Object.entries(summary.sectionP99Ms).map(([name, ms]): [string, string] => [`section ${name} p99`, `${ms} ms`]),
      ],
      [
        `overall statuses seen: ${JSON.stringify(summary.overallStatuses)}`,
        `target: p99 under ${targetP99Ms} ms — ${summary.p99Ms < targetP99Ms ? 'met' : 'NOT met'}`,
      ],
      { summary, latenciesMs: latencies.map(round) },
    );
  } finally {
    await stack.close();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
