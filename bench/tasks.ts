/**
 * Background-task fan-out end to end: one run with N tasks (simulated provider, one token, no delay)
 * at maxConcurrentChildren C, from `POST /v1/runs` to the run's completion (every task routed,
 * admitted, streamed and settled as its own child workflow), beside a baseline parent that runs N
 * plain child workflows (one no-op activity each), C at once, on the same dev server.
 *
 *   npm run bench -- tasks [tasks=100] [concurrency=8] [runs=3]
 *
 * No target is set for it yet; the figure says what the scheduler and the governed path cost per task.
 *
 *   npm run bench -- tasks history [concurrency=20]
 *
 * The run's history (encoded bytes and events) with 10, 50 and 200 tasks of 2 output tokens each:
 * what must stay bounded (Temporal warns at 10 MB and terminates a run at 50 MB).
 */
import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { percentile, reportMeasures } from './results';
import { baselineTaskQueue, openBenchStack } from './support/stack';

const historyTaskCounts = [10, 50, 200];

function runBody(tasks: number, concurrency: number, outputTokens: number): string {
  return JSON.stringify({
    tenantId: 'bench',
    principalId: 'fan-out',
    messages: [{ role: 'user', content: 'benchmark run' }],
    simulation: { outputTokens, chunkDelayMs: 0 },
    maxConcurrentChildren: concurrency,
    backgroundTasks: Array.from({ length: tasks }, (_, i) => ({
      kind: 'summary',
      input: { text: `benchmark task ${i}` },
      priority: (i % 21) - 10,
      simulation: { outputTokens, chunkDelayMs: 0 },
    })),
  });
}

/** Starts a run through the API and waits for it; returns its workflow handle. */
async function completedRun(stack: { client: Client; url: string; headers: Record<string, string> }, body: string) {
  const response = await fetch(`${stack.url}/v1/runs`, { method: 'POST', headers: stack.headers, body });
  if (response.status !== 202) throw new Error(`POST /v1/runs answered ${response.status}: ${await response.text()}`);
  const { runId } = (await response.json()) as { runId: string };
  const handle = stack.client.workflow.getHandle(`run-${runId}`);
  const run = (await handle.result()) as { backgroundTasks: { state: string }[] };
  const failed = run.backgroundTasks.filter((task) => task.state !== 'succeeded').length;
  if (failed > 0) throw new Error(`${failed} of ${run.backgroundTasks.length} tasks did not succeed`);
  return handle;
}

async function historySizes(concurrency: number) {
  const maxTasks = Math.max(...historyTaskCounts);
  const stack = await openBenchStack('tasks-history', { config: { tasks: { maxPerRun: maxTasks, retryGraceMs: 0 } } });
  try {
    const sizes: { tasks: number; bytes: number; events: number }[] = [];
    for (const tasks of historyTaskCounts) {
      const handle = await completedRun(stack, runBody(tasks, concurrency, 2));
      const history = await handle.fetchHistory();
      const bytes = temporal.api.history.v1.History.encode(history).finish().length;
      sizes.push({ tasks, bytes, events: history.events?.length ?? 0 });
    }
    reportMeasures(
      'tasks-history',
      sizes.map(({ tasks, bytes, events }) => [
        `run history with ${tasks} tasks (2 output tokens each, ${concurrency} at once)`,
        `${(bytes / 1024).toFixed(1)} KiB, ${events} events`,
      ]),
      [],
      { temporalDb: stack.temporalDb, concurrency, sizes },
    );
  } finally {
    await stack.close();
  }
}

async function main() {
  if (process.argv[2] === 'history') return historySizes(Number(process.argv[3] ?? 20));
  const tasks = Number(process.argv[2] ?? 100);
  const concurrency = Number(process.argv[3] ?? 8);
  const repeats = Number(process.argv[4] ?? 3);
  const stack = await openBenchStack('tasks', { config: { tasks: { maxPerRun: Math.max(50, tasks), retryGraceMs: 0 } } });
  const { client } = stack;
  const body = runBody(tasks, concurrency, 1);
  const governedRun = async () => {
    const t0 = performance.now();
    await completedRun(stack, body);
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
