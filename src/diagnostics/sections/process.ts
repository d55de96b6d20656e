import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { SectionContext } from '../deps';
import { verdictOf, type Finding } from '../run-section';
import { startupStepBudgetsMs } from '../startup';
import type { ProcessFigures, SectionVerdict } from '../types';

/** Above this resident set the process is `degraded` (`rss_above_baseline`): a leak or an oversized load. */
export const rssBaselineBytes = 512 * 1024 * 1024;
/** Event-loop delay p99 above this makes every request of the process slow (`event_loop_lag`). */
export const eventLoopLagP99LimitMs = 100;

let histogram: IntervalHistogram | undefined;

/** Starts the process's one event-loop delay monitor (idempotent); diagnostics read it. */
export function startEventLoopMonitor(): IntervalHistogram {
  if (!histogram) {
    histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
  }
  return histogram;
}

const nsToMs = (ns: number) => Math.round((ns / 1e6) * 10) / 10;

export async function processSection({ deps }: SectionContext): Promise<SectionVerdict & ProcessFigures> {
  const loop = startEventLoopMonitor();
  const memory = process.memoryUsage();
  const samples = loop.count;
  const eventLoopDelay = {
    p50Ms: samples > 0 ? nsToMs(loop.percentile(50)) : 0,
    p99Ms: samples > 0 ? nsToMs(loop.percentile(99)) : 0,
    maxMs: samples > 0 ? nsToMs(loop.max) : 0,
    samples,
  };
  const startup =
    deps.startup?.steps().map(({ step, durationMs }) => {
      const budgetMs = startupStepBudgetsMs[step];
      return { step, durationMs, budgetMs, overBudget: durationMs > budgetMs };
    }) ?? null;

  const findings: Finding[] = [];
  if (memory.rss > rssBaselineBytes) {
    findings.push({
      status: 'degraded',
      code: 'rss_above_baseline',
      hint: `resident memory ${mib(memory.rss)} MiB is above the ${mib(rssBaselineBytes)} MiB baseline: look for a leak or an unusual load`,
    });
  }
  if (eventLoopDelay.p99Ms > eventLoopLagP99LimitMs) {
    findings.push({
      status: 'degraded',
      code: 'event_loop_lag',
      hint: `event-loop delay p99 is ${eventLoopDelay.p99Ms} ms (limit ${eventLoopLagP99LimitMs} ms): something blocks the process`,
    });
  }
  for (const step of startup ?? []) {
    if (step.overBudget) {
      findings.push({
        status: 'degraded',
        code: 'startup_step_slow',
        hint: `start-up step ${step.step} took ${step.durationMs} ms (budget ${step.budgetMs} ms)`,
      });
    }
  }
  return {
    ...verdictOf(findings),
    version: deps.version,
    pid: process.pid,
    nodeVersion: process.version,
    uptimeMs: Math.round(process.uptime() * 1000),
    memory: {
      rssBytes: memory.rss,
      rssBaselineBytes,
      heapUsedBytes: memory.heapUsed,
      heapTotalBytes: memory.heapTotal,
    },
    eventLoopDelay,
    startup,
  };
}

const mib = (bytes: number) => Math.round(bytes / (1024 * 1024));
