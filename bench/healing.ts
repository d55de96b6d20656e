/**
 * Self-healing detection latency, per detector, over faults injected into real runs on a dev server
 * of its own: the supervisor's schedule ticks every `--interval-ms`, mode `auto`, small thresholds.
 * Latency is the incident's `createdAt` (the observation time of the tick that found it) minus the
 * moment the detector's threshold was reached, so a perfect supervisor scores between 0 and one
 * interval; "opened" is when the incident's workflow actually started (the tick's work included).
 *
 *   npm run bench -- healing [--faults 10] [--interval-ms 1000] [--slow-runs 3] [--slow-seconds 180]
 *
 * Faults and where the threshold is counted from:
 * - stalled_stream: the stream stops after 3 tokens (for 10 min; the worker's own watchdog, the
 *   heartbeat timeout, is 2 min). From the last chunk, as the attempt's heartbeat recorded it
 *   (`progressAt`, the incident's `lastProgressAt`), plus stallAfterMs. Auto-healed: fail_attempt.
 * - orphaned_reservation: a streaming run terminated from Temporal. The grace is counted from the
 *   hold's creation, so from max(termination as Temporal recorded it, hold created + graceMs).
 *   Auto-healed: release_reservation.
 * - approval_waiting: a run parked by an `approval_required` policy. From the history event that set
 *   its state to awaiting_approval, plus afterMs. Needs a person: the bench denies the run after.
 * - retry_storm: the provider answers HTTP 500 four times. The detector fires on a pending activity
 *   at attempt ≥ `attempts` with a failure, which Temporal shows as soon as attempt 2 failed and
 *   attempt 3 is scheduled (backing off): from that failure (`lastAttemptCompleteTime`). Needs a
 *   person; resolves itself when the fifth attempt succeeds.
 * Faults of one detector are started 1.3 intervals apart (so they sample every phase of the tick),
 * all detectors at once, beside the false-positive check: healthy runs streaming a chunk every 2 s
 * against the 3 s stall threshold, about which no incident may open.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { Payload } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import { defaultModels, defaultProviders } from '../src/config';
import { runReservationId, runWorkflowId, searchAttributes } from '../src/temporal/contracts';
import { percentile, writeResults } from './results';
import { openSupervisedStack, type SupervisedStack } from './support/supervised-stack';

const thresholds = {
  stalled_stream: { stallAfterMs: 3_000 },
  orphaned_reservation: { graceMs: 1_000 },
  approval_waiting: { afterMs: 2_000 },
  retry_storm: { attempts: 3 },
};
const faultDetectors = ['stalled_stream', 'orphaned_reservation', 'approval_waiting', 'retry_storm'] as const;
type FaultDetector = (typeof faultDetectors)[number];
const slowChunkMs = 2_000;
const approvalTenant = 'bench-approval';
/** How long a fault may take to be found before it counts as missed. */
const detectionTimeoutMs = 60_000;
const pollMs = 250;

/**
 * Stalls and 500s trip the provider's circuit breaker (routing's, per process), which would then
 * refuse the next runs: each faulty run gets a simulated provider and model of its own.
 */
const faultModel = (kind: 'stall' | 'storm', i: number) => `bench-${kind}-${i}`;
function faultProviders(faults: number) {
  const ids = (['stall', 'storm'] as const).flatMap((kind) => Array.from({ length: faults }, (_, i) => faultModel(kind, i)));
  return {
    providers: [...defaultProviders, ...ids.map((id) => ({ id, kind: 'simulated' as const }))],
    models: [
      ...defaultModels,
      ...ids.map((id) => ({
        id,
        provider: id,
        tier: 'standard' as const,
        contextWindow: 128_000,
        maxOutputTokens: 8_192,
        pricing: { inputPerMTokUsd: 2.5, outputPerMTokUsd: 10 },
      })),
    ],
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- runs and incidents as JSON, read field by field
type Json = any;

interface Sample {
  detector: FaultDetector;
  runId: string;
  subjectId: string;
  /** When the detector's threshold was reached (epoch ms), and what that was read from. */
  thresholdAt: number;
  detectedAt?: number;
  openedAt?: number;
  resolvedAt?: number;
  resolution?: string;
  runFinishedAt?: number;
  runState?: string;
  notes: Record<string, unknown>;
}

type Api = (method: string, path: string, body?: unknown) => Promise<Json>;

function apiOf(stack: SupervisedStack): Api {
  return async (method, path, body) => {
    const response = await fetch(`${stack.url}${path}`, {
      method,
      headers: stack.headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const json = await response.json();
    if (response.status >= 300) throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(json)}`);
    return json;
  };
}

/**
 * Every incident, as listed through the API (newest first, through visibility), polled in the
 * background; incidents are keyed by workflow execution, so one reopened counts again.
 */
function watchIncidents(api: Api, ledger: SupervisedStack['ledger']) {
  const byExecution = new Map<string, Json>();
  /** The supervisor's last tick as the ledger holds it, sampled every poll: a sample of tick durations. */
  const ticks = new Map<string, { durationMs: number; ticks: number; at: number }>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const tick = await ledger.lastSupervisorTick().catch(() => undefined);
      if (tick) ticks.set(tick.startedAt, { durationMs: tick.durationMs, ticks: tick.ticks, at: Date.now() });
      let cursor: string | null = null;
      try {
        do {
          const page: Json = await api('GET', `/v1/incidents?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
          for (const item of page.items) byExecution.set(`${item.temporal.workflowId}/${item.temporal.runId}`, item);
          cursor = page.nextCursor;
        } while (cursor);
      } catch (error) {
        process.stderr.write(`listing incidents failed (retrying): ${(error as Error).message}\n`);
      }
      await delay(pollMs);
    }
  })();
  const about = (subjectId: string, detector?: string): Json[] =>
    [...byExecution.values()]
      .filter((i) => i.subject.id === subjectId && (detector === undefined || i.detector === detector))
      .sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
  return {
    about,
    all: () => [...byExecution.values()],
    ticks: () => [...ticks.values()],
    /** The first incident of `detector` about `subjectId` once `predicate` holds for it; undefined after the timeout. */
    async waitFor(detector: string, subjectId: string, predicate: (incident: Json) => boolean, timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const first = about(subjectId, detector)[0];
        if (first && predicate(first)) return first;
        await delay(100);
      }
      return undefined;
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
type IncidentWatch = ReturnType<typeof watchIncidents>;

async function startRun(api: Api, tenantId: string, simulation: Record<string, unknown>, model?: string): Promise<string> {
  const { runId } = await api('POST', '/v1/runs', {
    tenantId,
    ...(model ? { model } : {}),
    principalId: 'bench-healing',
    messages: [{ role: 'user', content: 'self-healing benchmark' }],
    maxOutputTokens: Math.max(16, Number(simulation.outputTokens)),
    simulation,
  });
  return runId as string;
}

async function waitForRun(api: Api, runId: string, done: (run: Json) => boolean, timeoutMs: number): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  let run: Json;
  while (Date.now() < deadline) {
    run = await api('GET', `/v1/runs/${runId}`);
    if (done(run)) return run;
    await delay(pollMs);
  }
  return run;
}
const ended = (run: Json) => ['succeeded', 'failed', 'cancelled', 'denied'].includes(run.state);

type Timestamp = { seconds?: { toNumber(): number } | number | null; nanos?: number | null } | null | undefined;
function msOf(ts: Timestamp): number | undefined {
  if (!ts || ts.seconds === null || ts.seconds === undefined) return undefined;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : ts.seconds.toNumber();
  return seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1_000_000);
}

/** Fills in what the incident says: when it was observed, opened (its workflow's start) and resolved. */
async function withIncident(stack: SupervisedStack, sample: Sample, incident: Json | undefined): Promise<Sample> {
  if (!incident) return sample;
  const description = await stack.client.workflow.getHandle(incident.temporal.workflowId, incident.temporal.runId).describe();
  return {
    ...sample,
    detectedAt: Date.parse(incident.createdAt),
    openedAt: description.startTime.getTime(),
    ...(incident.resolvedAt ? { resolvedAt: Date.parse(incident.resolvedAt), resolution: incident.resolution } : {}),
    notes: { ...sample.notes, remediation: incident.remediation?.id, attempts: incident.attempts?.map((a: Json) => a.status) },
  };
}

function faultsOf(stack: SupervisedStack, api: Api, incidents: IncidentWatch) {
  const settled = (i: Json) => i.state === 'resolved';
  return {
    async stalled_stream(i: number): Promise<Sample> {
      const simulation = { outputTokens: 6, chunkDelayMs: 0, stallAfterTokens: 3, stallMs: 600_000 };
      const runId = await startRun(api, 'bench', simulation, faultModel('stall', i));
      const found = await incidents.waitFor('stalled_stream', runId, () => true, detectionTimeoutMs);
      const healed = found && (await incidents.waitFor('stalled_stream', runId, settled, 60_000));
      const run = await waitForRun(api, runId, ended, found ? 60_000 : 0);
      const incident = healed ?? found;
      const stallBegan = incident ? Date.parse(incident.evidence.lastProgressAt) : NaN;
      return withIncident(
        stack,
        {
          detector: 'stalled_stream',
          runId,
          subjectId: runId,
          thresholdAt: stallBegan + thresholds.stalled_stream.stallAfterMs,
          ...(run?.finishedAt ? { runFinishedAt: Date.parse(run.finishedAt) } : {}),
          runState: run?.state,
          notes: { stallBegan: new Date(stallBegan).toISOString(), tokensSoFar: incident?.evidence.tokensSoFar },
        },
        incident,
      );
    },

    async orphaned_reservation(): Promise<Sample> {
      const runId = await startRun(api, 'bench', { outputTokens: 400, chunkDelayMs: 100 });
      await waitForRun(api, runId, (run) => run.state === 'running', 30_000);
      const reservationId = runReservationId(runId);
      const hold = await stack.ledger.getReservation(reservationId);
      const handle = stack.client.workflow.getHandle(runWorkflowId(runId));
      await handle.terminate('bench: an orphaned hold');
      const terminatedAt = (await handle.describe()).closeTime?.getTime() ?? Date.now();
      const holdCreatedAt = hold ? Date.parse(hold.createdAt) : NaN;
      const found = await incidents.waitFor('orphaned_reservation', reservationId, () => true, detectionTimeoutMs);
      const healed = found && (await incidents.waitFor('orphaned_reservation', reservationId, settled, 60_000));
      const after = await stack.ledger.getReservation(reservationId);
      return withIncident(
        stack,
        {
          detector: 'orphaned_reservation',
          runId,
          subjectId: reservationId,
          thresholdAt: Math.max(terminatedAt, holdCreatedAt + thresholds.orphaned_reservation.graceMs),
          notes: {
            terminatedAt: new Date(terminatedAt).toISOString(),
            holdCreatedAt: hold?.createdAt,
            holdStateAfter: after?.state,
          },
        },
        healed ?? found,
      );
    },

    async approval_waiting(): Promise<Sample> {
      const runId = await startRun(api, approvalTenant, { outputTokens: 4, chunkDelayMs: 0 });
      await waitForRun(api, runId, (run) => run.state === 'awaiting_approval', 30_000);
      const since = await awaitingApprovalSince(stack, runId);
      const found = await incidents.waitFor('approval_waiting', runId, () => true, detectionTimeoutMs);
      // Nobody is coming: deny the run, which clears the incident.
      await api('POST', `/v1/runs/${runId}/approval`, { decision: 'deny' });
      const cleared = found && (await incidents.waitFor('approval_waiting', runId, settled, 30_000));
      const run = await waitForRun(api, runId, ended, 30_000);
      return withIncident(
        stack,
        {
          detector: 'approval_waiting',
          runId,
          subjectId: runId,
          thresholdAt: since + thresholds.approval_waiting.afterMs,
          runState: run?.state,
          notes: { awaitingSince: new Date(since).toISOString(), evidenceSince: found?.evidence.since },
        },
        cleared ?? found,
      );
    },

    async retry_storm(i: number): Promise<Sample> {
      const simulation = { outputTokens: 4, chunkDelayMs: 0, failure: 'http_500', failAttempts: 4 };
      const runId = await startRun(api, 'bench', simulation, faultModel('storm', i));
      const [attempts, found] = await Promise.all([
        followAttempts(stack, runId),
        incidents.waitFor('retry_storm', runId, () => true, detectionTimeoutMs),
      ]);
      const run = await waitForRun(api, runId, ended, 60_000);
      const cleared = found && (await incidents.waitFor('retry_storm', runId, settled, 30_000));
      return withIncident(
        stack,
        {
          detector: 'retry_storm',
          runId,
          subjectId: runId,
          thresholdAt: attempts.thresholdReachedAt ?? NaN,
          runState: run?.state,
          notes: {
            thresholdReachedAt: attempts.thresholdReachedAt && new Date(attempts.thresholdReachedAt).toISOString(),
            thresholdAttemptDueAt: attempts.thresholdAttemptDueAt && new Date(attempts.thresholdAttemptDueAt).toISOString(),
            latencyFromThresholdAttemptDueMs:
              found && attempts.thresholdAttemptDueAt ? Date.parse(found.createdAt) - attempts.thresholdAttemptDueAt : undefined,
          },
        },
        cleared ?? found,
      );
    },
  } satisfies Record<FaultDetector, (i: number) => Promise<Sample>>;
}

/** When the run's state became awaiting_approval, from the history event that set it. */
async function awaitingApprovalSince(stack: SupervisedStack, runId: string): Promise<number> {
  const history = await stack.client.workflow.getHandle(runWorkflowId(runId)).fetchHistory();
  for (const event of history.events ?? []) {
    const payload =
      event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.[searchAttributes.runState.name];
    if (payload && defaultPayloadConverter.fromPayload(payload as Payload) === 'awaiting_approval')
      return msOf(event.eventTime) ?? NaN;
  }
  return NaN;
}

/**
 * Follows the provider activity of a failing run (describe every 250 ms). Once the pending attempt
 * is the threshold one: when the attempt before it failed (`lastAttemptCompleteTime`) and when
 * Temporal scheduled the threshold attempt to start, after its backoff (`nextAttemptScheduleTime`).
 */
async function followAttempts(stack: SupervisedStack, runId: string) {
  const handle = stack.client.workflow.getHandle(runWorkflowId(runId));
  const threshold = thresholds.retry_storm.attempts;
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await delay(pollMs)) {
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') break;
    const activity = description.raw.pendingActivities?.find((a) => a.activityType?.name === 'invokeProvider');
    if ((activity?.attempt ?? 1) < threshold) continue;
    if (activity?.attempt !== threshold) break;
    return {
      thresholdReachedAt: msOf(activity.lastAttemptCompleteTime),
      thresholdAttemptDueAt: msOf(activity.nextAttemptScheduleTime) ?? msOf(activity.lastStartedTime),
    };
  }
  return { thresholdReachedAt: undefined, thresholdAttemptDueAt: undefined };
}

async function slowRun(api: Api, seconds: number): Promise<{ runId: string; state: string; streamedForMs: number }> {
  const outputTokens = Math.max(1, Math.round((seconds * 1000) / slowChunkMs));
  const runId = await startRun(api, 'bench', { outputTokens, chunkDelayMs: slowChunkMs });
  const run = await waitForRun(api, runId, ended, seconds * 1000 + 120_000);
  return { runId, state: run.state, streamedForMs: Date.parse(run.finishedAt) - Date.parse(run.startedAt) };
}

function summarize(samples: Sample[], intervalMs: number) {
  const detected = samples.filter((s) => s.detectedAt !== undefined && Number.isFinite(s.thresholdAt));
  const sorted = (values: number[]) => values.filter(Number.isFinite).sort((a, b) => a - b);
  const latencies = sorted(detected.map((s) => (s.detectedAt as number) - s.thresholdAt));
  const opened = sorted(detected.map((s) => (s.openedAt as number) - s.thresholdAt));
  const healed = sorted(
    detected.filter((s) => s.resolution === 'remediated').map((s) => (s.resolvedAt as number) - (s.detectedAt as number)),
  );
  const runHealed = sorted(
    detected.filter((s) => s.runState === 'succeeded' && s.runFinishedAt).map((s) => (s.runFinishedAt as number) - s.thresholdAt),
  );
  return {
    faults: samples.length,
    detected: detected.length,
    latencyMs: {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies.at(-1) ?? NaN,
      min: latencies[0] ?? NaN,
    },
    openedMs: { p50: percentile(opened, 50), max: opened.at(-1) ?? NaN },
    remediated: healed.length,
    healMs: { p50: percentile(healed, 50), max: healed.at(-1) ?? NaN },
    runSucceededAfterThresholdMs: { p50: percentile(runHealed, 50), max: runHealed.at(-1) ?? NaN },
    intervalMs,
  };
}

async function main() {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: {
      faults: { type: 'string', default: '10' },
      'interval-ms': { type: 'string', default: '1000' },
      'slow-runs': { type: 'string', default: '3' },
      'slow-seconds': { type: 'string', default: '180' },
    },
  });
  const faults = Number(values.faults);
  const intervalMs = Number(values['interval-ms']);
  const slowRuns = Number(values['slow-runs']);
  const slowSeconds = Number(values['slow-seconds']);
  const staggerMs = Math.round(intervalMs * 1.3);

  const startedAt = Date.now();
  const stack = await openSupervisedStack('healing', {
    selfHealing: {
      mode: 'auto',
      supervisorIntervalMs: intervalMs,
      // Every fault here heals at once: the installation-wide throttle would make healing time its own figure.
      maxRemediationsPerMinute: 1_000,
      detectors: thresholds,
    },
    // The worker's own stall watchdog is far beyond the supervisor's threshold, so the supervisor heals.
    runs: { heartbeatTimeoutMs: 120_000 },
    ...faultProviders(faults),
  });
  const api = apiOf(stack);
  const incidents = watchIncidents(api, stack.ledger);
  try {
    await stack.ledger.putPolicy({
      policyId: `${approvalTenant}-needs-approval`,
      scope: { kind: 'tenant', id: approvalTenant },
      metric: 'cost',
      window: 'day',
      hardLimit: 1,
      action: 'approval_required',
      enabled: true,
    });
    const fault = faultsOf(stack, api, incidents);
    const slow = Promise.all(Array.from({ length: slowRuns }, () => slowRun(api, slowSeconds)));
    const byDetector = await Promise.all(
      faultDetectors.map((detector) =>
        Promise.all(
          Array.from({ length: faults }, async (_, i) => {
            await delay(i * staggerMs);
            // A fault that could not be injected or followed counts as not detected, with the reason.
            return fault[detector](i).catch((error: Error): Sample => ({
              detector,
              runId: '',
              subjectId: '',
              thresholdAt: NaN,
              notes: { error: error.message },
            }));
          }),
        ),
      ),
    );
    const slowResults = await slow;
    // One more tick or two, so an incident about a slow run at its very end would be listed too.
    await delay(intervalMs * 3);

    const samples = byDetector.flat();
    const falsePositives = slowResults.map((run) => ({ ...run, incidents: incidents.about(run.runId).map((i) => i.detector) }));
    const subjects = new Set(samples.map((s) => `${s.detector}:${s.subjectId}`));
    const unexpected = incidents
      .all()
      .filter((i) => !subjects.has(`${i.detector}:${i.subject.id}`))
      .map((i) => ({ detector: i.detector, subject: i.subject, summary: i.summary }));
    const summary = Object.fromEntries(
      faultDetectors.map((detector) => [
        detector,
        summarize(
          samples.filter((s) => s.detector === detector),
          intervalMs,
        ),
      ]),
    ) as Record<FaultDetector, ReturnType<typeof summarize>>;
    const stalledAboutSlow = falsePositives.reduce((n, run) => n + run.incidents.filter((d) => d === 'stalled_stream').length, 0);

    const tickSamples = incidents.ticks();
    const durations = tickSamples.map((t) => t.durationMs).sort((a, b) => a - b);
    const [firstTick, lastTick] = [tickSamples[0], tickSamples.at(-1)];
    const tickPeriodMs =
      firstTick && lastTick && lastTick.ticks > firstTick.ticks
        ? (lastTick.at - firstTick.at) / (lastTick.ticks - firstTick.ticks)
        : NaN;
    const ticks = {
      count: lastTick?.ticks,
      meanPeriodMs: tickPeriodMs,
      sampledDurations: durations.length,
      durationP50Ms: percentile(durations, 50),
      durationP99Ms: percentile(durations, 99),
      durationMaxMs: durations.at(-1),
    };
    const f = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '–');
    const fromAttemptDue = samples
      .map((s) => s.notes.latencyFromThresholdAttemptDueMs)
      .filter((n): n is number => typeof n === 'number')
      .sort((a, b) => a - b);
    const rows = faultDetectors.map((detector) => {
      const s = summary[detector];
      const heal = s.remediated > 0 ? `${f(s.healMs.p50)} (${s.remediated})` : 'needs a person';
      return `| ${detector} | ${s.faults} | ${s.detected} | ${f(s.latencyMs.p50)} | ${f(s.latencyMs.p99)} | ${f(s.latencyMs.max)} | ${f(s.openedMs.p50)} | ${heal} | ${intervalMs} |`;
    });
    const stalled = summary.stalled_stream;
    process.stdout.write(
      [
        '',
        '| detector | faults | detected | p50 ms | p99 ms | max ms | opened p50 ms | healed p50 ms (n) | interval ms |',
        '|---|---|---|---|---|---|---|---|---|',
        ...rows,
        '',
        'latency: incident createdAt (its tick’s observation time) − when the threshold was reached; opened: the incident workflow’s start − the same.',
        'healed: incident resolved (remediated) − createdAt; a stalled run then succeeded ' +
          `${f(stalled.runSucceededAfterThresholdMs.p50)} ms (p50) after its threshold.`,
        `retry_storm fires once attempt ${thresholds.retry_storm.attempts - 1} failed and attempt ${thresholds.retry_storm.attempts} ` +
          `is scheduled; from attempt ${thresholds.retry_storm.attempts}'s scheduled start: p50 ${f(percentile(fromAttemptDue, 50))} / ` +
          `min ${f(fromAttemptDue[0] ?? NaN)} ms (negative: before it was made). Its min from the failure: ` +
          `${f(summary.retry_storm.latencyMs.min)} ms (a tick observes at its start and reads the evidence after).`,
        `false positives: ${stalledAboutSlow} stalled_stream incidents about ${slowRuns} healthy runs streaming a chunk every ` +
          `${slowChunkMs / 1000} s for ${slowSeconds} s (stallAfterMs ${thresholds.stalled_stream.stallAfterMs}) — ` +
          `${stalledAboutSlow === 0 ? 'none, as required' : 'MUST BE 0'}; their runs: ${falsePositives.map((r) => r.state).join(', ')}`,
        `supervisor ticks: one every ${f(ticks.meanPeriodMs)} ms on average (interval ${intervalMs} ms, overlap SKIP); ` +
          `duration (gather → report, ${ticks.sampledDurations} sampled) p50 ${f(ticks.durationP50Ms)} / p99 ${f(ticks.durationP99Ms)} / ` +
          `max ${f(ticks.durationMaxMs ?? NaN)} ms`,
        `unexpected incidents (about no injected fault): ${unexpected.length}; faults not injected: ${
          samples.filter((s) => s.notes.error).length
        }`,
        `wall time ${((Date.now() - startedAt) / 1000).toFixed(0)} s`,
        `results: ${writeResults('healing', {
          date: new Date().toISOString(),
          settings: { faults, intervalMs, staggerMs, slowRuns, slowSeconds, slowChunkMs, thresholds },
          summary,
          ticks,
          falsePositive: { stalledStreamIncidents: stalledAboutSlow, runs: falsePositives },
          unexpected,
          samples,
        })}`,
        '',
      ].join('\n'),
    );
  } finally {
    await incidents.stop();
    await stack.close();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
