/**
 * Background-task fan-out end to end: one run with N tasks (simulated provider, one token, no delay)
 * at maxConcurrentChildren C, from `POST /v1/runs` to the run's completion (every task routed,
 * admitted, streamed and settled as its own child workflow), beside a baseline parent that runs N
 * plain child workflows (one no-op activity each), C at once, on the same dev server.
 *
 *   npm run bench -- tasks [tasks=100] [concurrency=8] [runs=3]
 *
 * No target is set for it yet; the figure says what the scheduler and the governed path cost per task.
 */
import { performance } from 'node:perf_hooks';
import { percentile, reportMeasures } from './results';
import { baselineTaskQueue, openBenchStack } from './support/stack';

async function main() {
  const tasks = Number(process.argv[2] ?? 100);
  const concurrency = Number(process.argv[3] ?? 8);
  const repeats = Number(process.argv[4] ?? 3);
  const stack = await openBenchStack('tasks', { config: { tasks: { maxPerRun: Math.max(50, tasks), retryGraceMs: 0 } } });
  const { client, url, headers } = stack;
  const body = JSON.stringify({
    tenantId: 'bench',
    principalId: 'fan-out',
    messages: [{ role: 'user', content: 'benchmark run' }],
    simulation: { outputTokens: 1, chunkDelayMs: 0 },
    maxConcurrentChildren: concurrency,
    backgroundTasks: Array.from({ length: tasks }, (_, i) => ({
      kind: 'summary',
      input: { text: `benchmark task ${i}` },
      priority: (i % 21) - 10,
      simulation: { outputTokens: 1, chunkDelayMs: 0 },
    })),
  });
  const governedRun = async () => {
    const t0 = performance.now();
    const response = await fetch(`${url}/v1/runs`, { method: 'POST', headers, body });
    if (response.status !== 202) throw new Error(`POST /v1/runs answered ${response.status}: ${await response.text()}`);
    const { runId } = (await response.json()) as { runId: string };
    const run = (await client.workflow.getHandle(`run-${runId}`).result()) as { backgroundTasks: { state: string }[] };
    const failed = run.backgroundTasks.filter((task) => task.state !== 'succeeded').length;
    if (failed > 0) throw new Error(`${failed} of ${tasks} tasks did not succeed`);
    return performance.now() - t0;
  };
  let baselineId = 0;
  const baselineRun = async () => {
    const t0 = performance.now();
    await client.workflow.execute('baselineFanOut', {
      taskQueue: baselineTaskQueue,
      workflowId: `fan-out-${baselineId++}`,
      args: [{ children: tasks, concurrency }],
    });
    return performance.now() - t0;
  };

  try {
    // Warm-up: bundles built, connections open.
    await governedRun();
    await baselineRun();
    const governed: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < repeats; i++) {
      governed.push(await governedRun());
      baseline.push(await baselineRun());
    }
    governed.sort((a, b) => a - b);
    baseline.sort((a, b) => a - b);
    const governedMs = percentile(governed, 50);
    const baselineMs = percentile(baseline, 50);
    const result = {
      temporalDb: stack.temporalDb,
      tasks,
      concurrency,
      repeats,
      governedRunMs: governed,
      baselineFanOutMs: baseline,
      governedTasksPerSecond: (tasks / governedMs) * 1000,
      baselineChildrenPerSecond: (tasks / baselineMs) * 1000,
      ratio: baselineMs / governedMs,
    };
    const f = (n: number, d = 1) => n.toFixed(d);
    reportMeasures(
      'tasks',
      [
        [`run with ${tasks} tasks, ${concurrency} at once: POST to completion, median of ${repeats}`, `${f(governedMs, 0)} ms`],
        ['governed tasks/s', f(result.governedTasksPerSecond)],
        [`baseline: ${tasks} plain children, ${concurrency} at once, median`, `${f(baselineMs, 0)} ms`],
        ['baseline children/s', f(result.baselineChildrenPerSecond)],
        ['ratio (governed / baseline throughput)', `${f(result.ratio, 2)}×`],
      ],
      [],
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
