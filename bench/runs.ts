/**
 * Governed runs end to end (API → workflow → routing → admission → simulated provider with no delay
 * → settle) per second, beside a baseline workflow that runs one no-op activity, on the same dev
 * server and worker settings in the same run; then `POST /v1/runs` latency at concurrency 32 with
 * autocannon (each answer waits for the run's budget decision).
 *
 *   npm run bench -- runs [runs=200] [dir for the dev server's DB, e.g. /dev/shm]
 *
 * The second argument shows how much of the figure is the dev server's disk: its SQLite file
 * syncs every write, and on a slow disk that, not Palyra, bounds workflows per second.
 *
 * Targets: governed throughput at least 0.5× the baseline; POST /v1/runs p99 under 150 ms.
 */
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { percentile, reportMeasures } from './results';
import { baselineTaskQueue, openBenchStack } from './support/stack';

const concurrency = 32;

/** Runs `total` jobs with `concurrency` in flight; returns the elapsed milliseconds. */
async function drive(total: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await job(next++);
    }),
  );
  return performance.now() - started;
}

async function main() {
  const total = Number(process.argv[2] ?? 200);
  const stack = await openBenchStack('runs', { dbParentDir: process.argv[3] });
  const { client, url, headers } = stack;
  const body = (i: number) =>
    JSON.stringify({
      tenantId: 'bench',
      principalId: `p${i % 8}`,
      messages: [{ role: 'user', content: `benchmark run ${i}` }],
      maxOutputTokens: 16,
      simulation: { outputTokens: 1, chunkDelayMs: 0 },
    });

  try {
    // Warm-up: bundles are built, connections open, caches filled.
    await drive(concurrency, async (i) => {
      const response = await fetch(`${url}/v1/runs`, { method: 'POST', headers, body: body(i) });
      const { runId } = (await response.json()) as { runId: string };
      await client.workflow.getHandle(`run-${runId}`).result();
      await client.workflow.execute('baselineWorkflow', { taskQueue: baselineTaskQueue, workflowId: `warm-${i}` });
    });

    const governedMs = await drive(total, async (i) => {
      const response = await fetch(`${url}/v1/runs`, { method: 'POST', headers, body: body(i) });
      if (response.status !== 202) throw new Error(`POST /v1/runs answered ${response.status}: ${await response.text()}`);
      const { runId } = (await response.json()) as { runId: string };
      await client.workflow.getHandle(`run-${runId}`).result();
    });
    const baselineMs = await drive(total, async (i) => {
      await client.workflow.execute('baselineWorkflow', { taskQueue: baselineTaskQueue, workflowId: `baseline-${i}` });
    });

    // Unloaded: one POST at a time, what a single caller waits for its admission.
    const single: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      const response = await fetch(`${url}/v1/runs`, { method: 'POST', headers, body: body(i) });
      await response.arrayBuffer();
      single.push(performance.now() - t0);
    }
    single.sort((a, b) => a - b);

    const load = await autocannon({
      url: `${url}/v1/runs`,
      method: 'POST',
      headers,
      body: body(0),
      connections: concurrency,
      amount: Math.max(total, 320),
    });
    const governedPerSecond = (total / governedMs) * 1000;
    const baselinePerSecond = (total / baselineMs) * 1000;
    const ratio = governedPerSecond / baselinePerSecond;
    const result = {
      temporalDb: stack.temporalDb,
      runs: total,
      concurrency,
      governedRunsPerSecond: governedPerSecond,
      baselineWorkflowsPerSecond: baselinePerSecond,
      ratio,
      postAlone: { requests: single.length, p50Ms: percentile(single, 50), p99Ms: percentile(single, 99) },
      post: {
        requests: load.requests.total,
        non2xx: load.non2xx,
        errors: load.errors,
        p50Ms: load.latency.p50,
        p99Ms: load.latency.p99,
        maxMs: load.latency.max,
        requestsPerSecond: load.requests.average,
      },
    };
    const f = (n: number, d = 1) => n.toFixed(d);
    reportMeasures(
      'runs',
      [
        [`governed runs/s (end to end, c=${concurrency})`, f(governedPerSecond)],
        ['baseline workflows/s (one no-op activity)', f(baselinePerSecond)],
        ['ratio', `${f(ratio, 2)}×`],
        [
          `POST /v1/runs p50 / p99 / max (c=${concurrency}, ${load.requests.total} requests)`,
          `${load.latency.p50} / ${load.latency.p99} / ${load.latency.max} ms`,
        ],
        ['POST /v1/runs non-2xx / errors', `${load.non2xx} / ${load.errors}`],
        [
          `POST /v1/runs alone p50 / p99 (c=1, ${single.length} requests)`,
          `${f(percentile(single, 50), 0)} / ${f(percentile(single, 99), 0)} ms`,
        ],
      ],
      [
        `targets: throughput ${f(ratio, 2)}× baseline (≥ 0.5×: ${ratio >= 0.5 ? 'met' : 'MISSED'}), ` +
          `POST p99 ${load.latency.p99} ms (< 150 ms: ${load.latency.p99 < 150 ? 'met' : 'MISSED'})`,
      ],
      result,
    );
  } finally {
    await stack.close();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
