/**
 * Governed runs with real budget policies (a tenant, a principal and a model window per run) on the
 * SQLite and the PostgreSQL ledger, each beside what Temporal alone does on the same dev server in
 * the same run:
 *
 * - a bare `client.workflow.start` at concurrency 32 (p50 / p99): the floor for a POST that starts a
 *   workflow, and `POST /v1/runs` at concurrency 32 (each answer waits for the budget decision);
 * - governed runs per second end to end (POST → route → admit → simulated provider with no delay →
 *   settle) beside the bare one-activity workflow per second, both at concurrency 32;
 * - where the time of a POST goes: medians per phase (API, update-with-start, workflow task pickup,
 *   the routing and admission local activities, the ledger calls, the answer), from the run's history
 *   and stamps taken around the API's Temporal client, the activities and the ledger;
 * - a burst of 1,000 POSTs at concurrency 200: answers by status, then every pending reservation
 *   whose run has ended (a leaked hold) once the burst's runs are done;
 * - a quiet tenant's POST latency alone and while another tenant fires 500 POSTs at once.
 *
 *   npm run bench -- runs [--stores sqlite,postgres] [--runs 200] [--posts 320] [--burst 1000]
 *     [--burst-concurrency 200] [--flood 500] [--temporal-db-dir /dev/shm] [--temporal-address host:port]
 *     [--variants '[{"label":"current","tuning":{}},{"label":"ratio 1","tuning":{"nonStickyToStickyPollRatio":1}}]']
 *     [--admission in-process,workflow] [--label name]
 *
 * `--admission`: where a run's budget decision is taken, in the API process before the run starts
 * (`palyra dev`, the default) or by the run's workflow (a separate `palyra api`); each is measured
 * beside the same bare figures.
 * `--variants` compares worker settings on one server: each variant is measured in turn, then all
 * again in the same order. Run with none of the experiment flags (--temporal-db-dir,
 * --temporal-address, --variants, --label), it rewrites its section of BENCHMARKS.md (one section
 * per set of ledgers, `runs` for both: on a slow machine each ledger fits a run of its own);
 * otherwise it writes only bench/results/runs-<label>.json.
 * PostgreSQL is a database of its own on $PALYRA_TEST_POSTGRES_URL's server, dropped afterwards.
 *
 * Targets (issue 13): POST p99 at c=32 ≤ 2× the bare start's p99; governed runs/s ≥ 0.8× the bare
 * one-activity workflow; zero 5xx other than 503 and zero leaked holds in the burst.
 */
import fs from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { PalyraConfigInput } from '../src/config';
import type { WorkerTuning } from '../src/temporal/worker';
import { drive, machineDescription, markdownTable, percentile, updateBenchmarksSection, writeResults } from './results';
import { admissionPhases, createAdmissionTiming, type HttpStamp, type PhaseBreakdown } from './support/admission-timing';
import { createBenchDatabase } from './support/postgres';
import {
  admissionSites,
  baselineTaskQueue,
  openBenchServer,
  openPalyraStack,
  type AdmissionSite,
  type BenchServer,
  type PalyraStack,
} from './support/stack';

const concurrency = 32;
const busyTenant = 'bench';
const quietTenant = 'bench-quiet';
const principals = 8;
const model = 'sim-standard';
const quietPosts = 20;
/** Far above what a bench books, so every run is admitted; the windows are booked all the same. */
const roomyLimit = 1_000_000_000_000;
const stores = ['sqlite', 'postgres'] as const;
type Store = (typeof stores)[number];

/** Worker settings to compare (`--variants '[{"label":"sdk","tuning":{}},{"label":"polls20","tuning":{…}}]'`). */
interface Variant {
  label: string;
  tuning: WorkerTuning;
}

/** The policies every run books into: its tenant's day, its principal's day, its model's month. */
export function benchPolicies(): NonNullable<NonNullable<PalyraConfigInput['budgets']>['policies']> {
  return [
    ...[busyTenant, quietTenant].map((tenant) => ({
      policyId: `${tenant}-tenant-day`,
      scope: { kind: 'tenant' as const, id: tenant },
      metric: 'cost' as const,
      window: 'day' as const,
      softLimit: roomyLimit / 2,
      hardLimit: roomyLimit,
      action: 'block' as const,
    })),
    ...[busyTenant, quietTenant].flatMap((tenant) =>
      Array.from({ length: principals }, (_, i) => ({
        policyId: `${tenant}-p${i}-day`,
        scope: { kind: 'principal' as const, id: `${tenant}/p${i}` },
        metric: 'tokens' as const,
        window: 'day' as const,
        hardLimit: roomyLimit,
        action: 'block' as const,
      })),
    ),
    { policyId: `${model}-month`, scope: { kind: 'model', id: model }, metric: 'cost', window: 'month', hardLimit: roomyLimit },
  ];
}

function runBody(tenantId: string, i: number): string {
  return JSON.stringify({
    tenantId,
    principalId: `p${i % principals}`,
    model,
    messages: [{ role: 'user', content: `benchmark run ${i}` }],
    maxOutputTokens: 16,
    simulation: { outputTokens: 1, chunkDelayMs: 0 },
  });
}

interface PostAnswer {
  status: number;
  code: string | undefined;
  runId: string | undefined;
  sentAt: number;
  doneAt: number;
}

async function post(stack: PalyraStack, body: string): Promise<PostAnswer> {
  const sentAt = Date.now();
  const response = await fetch(`${stack.url}/v1/runs`, { method: 'POST', headers: stack.headers, body });
  const answer = (await response.json()) as { runId?: string; error?: { code: string; details?: { runId?: string } } };
  return {
    status: response.status,
    code: answer.error?.code,
    runId: answer.runId ?? answer.error?.details?.runId,
    sentAt,
    doneAt: Date.now(),
  };
}

const stats = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
};

/** Waits for runs to end; a run that never started (a 503 that started nothing) is skipped. */
async function awaitRuns(client: Client, runIds: Iterable<string>): Promise<void> {
  await Promise.all(
    [...runIds].map((runId) =>
      client.workflow
        .getHandle(`run-${runId}`)
        .result()
        .catch((error: unknown) => {
          if (!(error instanceof WorkflowNotFoundError)) throw error;
        }),
    ),
  );
}

/**
 * Pending reservations whose run has ended (or never existed): holds nobody will settle but the
 * sweeper. Waits up to `waitMs` for pending reservations of runs still going.
 */
async function leakedHolds(stack: PalyraStack, client: Client, waitMs: number) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const pending = await stack.ledger.connection.db
      .selectFrom('reservations')
      .select(['reservation_id', 'run_id'])
      .where('state', '=', 'pending')
      .execute();
    let leaked = 0;
    let open = 0;
    for (const { run_id: runId } of pending) {
      const status = await client.workflow
        .getHandle(`run-${runId}`)
        .describe()
        .then(
          (description) => description.status.name,
          (error: unknown) => {
            if (error instanceof WorkflowNotFoundError) return 'NOT_FOUND';
            throw error;
          },
        );
      if (status === 'RUNNING') open++;
      else leaked++;
    }
    if (open === 0 || Date.now() > deadline) return { pending: pending.length, leaked, open };
    await delay(1_000);
  }
}

/** CPU milliseconds used so far by this process and by the dev server (from /proc; 0 when unknown). */
function cpuNow(serverPid: number | undefined): { node: number; server: number } {
  const { user, system } = process.cpuUsage();
  let server = 0;
  if (serverPid !== undefined && fs.existsSync(`/proc/${serverPid}/stat`)) {
    // Fields 14 and 15 (utime, stime) in clock ticks, after the parenthesised command name.
    const fields = fs.readFileSync(`/proc/${serverPid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    server = ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond;
  }
  return { node: (user + system) / 1000, server };
}
const clockTicksPerSecond = 100;

/** CPU per item between two readings. */
const cpuPer = (before: ReturnType<typeof cpuNow>, after: ReturnType<typeof cpuNow>, items: number) => ({
  nodeMs: (after.node - before.node) / items,
  serverMs: (after.server - before.server) / items,
});

interface StoreResult {
  store: Store;
  admission: AdmissionSite;
  /** The worker settings compared (`--variants`), or undefined for Palyra's own. */
  variant: string | undefined;
  bareStart: ReturnType<typeof stats>;
  post: ReturnType<typeof stats> & { failed: number };
  /** CPU per workflow, from its start to its end: bare (start + one activity) and governed (POST + run). */
  cpu: { bare: ReturnType<typeof cpuPer>; governed: ReturnType<typeof cpuPer> };
  governedRunsPerSecond: number;
  baselineWorkflowsPerSecond: number;
  breakdown: PhaseBreakdown;
  burst: {
    requests: number;
    concurrency: number;
    byAnswer: Record<string, number>;
    latency: ReturnType<typeof stats>;
    holds: { pending: number; leaked: number; open: number };
  };
  quiet: {
    alone: ReturnType<typeof stats>;
    duringFlood: ReturnType<typeof stats>;
    quietAnswers: Record<string, number>;
    flood: number;
    floodAnswers: Record<string, number>;
  };
}

const answerKey = ({ status, code }: PostAnswer) => (status === 503 ? `503 ${code}` : String(status));
const countAnswers = (answers: PostAnswer[]) =>
  answers.reduce<Record<string, number>>((counts, answer) => {
    const key = answerKey(answer);
    return { ...counts, [key]: (counts[key] ?? 0) + 1 };
  }, {});

async function measureStore(
  server: BenchServer,
  store: Store,
  settings: { runs: number; posts: number; burst: number; burstConcurrency: number; flood: number },
  admission: AdmissionSite,
  variant?: Variant,
): Promise<StoreResult> {
  const { client } = server;
  const database = store === 'postgres' ? await createBenchDatabase('runs') : undefined;
  const timing = createAdmissionTiming();
  const tag = `${store}-${Date.now()}`;
  try {
    const stack = await openPalyraStack(server, `runs-${store}`, {
      config: { ...(database ? { database: { url: database.url } } : {}), budgets: { policies: benchPolicies() } },
      instruments: timing.instruments,
      admission,
      ...(variant?.tuning ? { tuning: variant.tuning } : {}),
    });
    try {
      const governedRun = async (i: number) => {
        const answer = await post(stack, runBody(busyTenant, i));
        if (answer.status !== 202 || !answer.runId) throw new Error(`POST /v1/runs answered ${answer.status} ${answer.code}`);
        await client.workflow.getHandle(`run-${answer.runId}`).result();
      };
      const baselineRun = (id: string) =>
        client.workflow.execute('baselineWorkflow', { taskQueue: baselineTaskQueue, workflowId: id });
      process.stdout.write(`[${store}] warm-up\n`);
      await drive(concurrency, concurrency, async (i) => {
        await governedRun(i);
        await baselineRun(`warm-${tag}-${i}`);
      });

      process.stdout.write(`[${store}] bare workflow.start ×${settings.posts} at c=${concurrency}\n`);
      const bareCpu = cpuNow(server.serverPid);
      const bareMs: number[] = [];
      const bareHandles: Promise<unknown>[] = [];
      await drive(settings.posts, concurrency, async (i) => {
        const t0 = performance.now();
        const handle = await client.workflow.start('baselineWorkflow', {
          taskQueue: baselineTaskQueue,
          workflowId: `bare-${tag}-${i}`,
        });
        bareMs.push(performance.now() - t0);
        bareHandles.push(handle.result());
      });
      await Promise.all(bareHandles);
      const bareCpuUsed = cpuPer(bareCpu, cpuNow(server.serverPid), settings.posts);

      process.stdout.write(`[${store}] POST /v1/runs ×${settings.posts} at c=${concurrency}\n`);
      const answers: PostAnswer[] = [];
      const governedCpu = cpuNow(server.serverPid);
      timing.start();
      await drive(settings.posts, concurrency, async (i) => {
        answers.push(await post(stack, runBody(busyTenant, i)));
      });
      timing.stop();
      const admitted = answers.filter((a) => a.status === 202 && a.runId);
      await awaitRuns(
        client,
        admitted.map((a) => a.runId as string),
      );
      const governedCpuUsed = cpuPer(governedCpu, cpuNow(server.serverPid), settings.posts);
      const breakdown = await timing.breakdown(
        client,
        admitted.map((a): HttpStamp => ({ runId: a.runId as string, sentAt: a.sentAt, doneAt: a.doneAt })),
      );

      process.stdout.write(`[${store}] end to end ×${settings.runs}: governed, then the bare one-activity workflow\n`);
      const governedMs = await drive(settings.runs, concurrency, governedRun);
      const baselineMs = await drive(settings.runs, concurrency, (i) => baselineRun(`baseline-${tag}-${i}`));

      process.stdout.write(`[${store}] burst ×${settings.burst} at c=${settings.burstConcurrency}\n`);
      const burstAnswers: PostAnswer[] = [];
      await drive(settings.burst, settings.burstConcurrency, async (i) => {
        burstAnswers.push(await post(stack, runBody(busyTenant, i)));
      });
      await awaitRuns(
        client,
        burstAnswers.flatMap((a) => (a.runId ? [a.runId] : [])),
      );
      const holds = await leakedHolds(stack, client, 60_000);

      process.stdout.write(`[${store}] ${quietTenant} alone, then during ${busyTenant}'s ${settings.flood} POSTs at once\n`);
      const quietAlone: PostAnswer[] = [];
      for (let i = 0; i < quietPosts; i++) quietAlone.push(await post(stack, runBody(quietTenant, i)));
      const flood = Promise.all(Array.from({ length: settings.flood }, (_, i) => post(stack, runBody(busyTenant, i))));
      let floodDone = false;
      void flood.finally(() => {
        floodDone = true;
      });
      // Sent once the flood's requests are in the API's queue, one after another while it lasts.
      await delay(200);
      const quietDuring: PostAnswer[] = [];
      for (let i = 0; i < quietPosts && !floodDone; i++) quietDuring.push(await post(stack, runBody(quietTenant, i)));
      const floodAnswers = await flood;
      await awaitRuns(
        client,
        [...quietAlone, ...quietDuring, ...floodAnswers].flatMap((a) => (a.runId ? [a.runId] : [])),
      );
      const floodHolds = await leakedHolds(stack, client, 60_000);

      const ms = (list: PostAnswer[]) => list.map((a) => a.doneAt - a.sentAt);
      return {
        store,
        admission,
        variant: variant?.label,
        bareStart: stats(bareMs),
        post: { ...stats(ms(answers)), failed: answers.length - admitted.length },
        cpu: { bare: bareCpuUsed, governed: governedCpuUsed },
        governedRunsPerSecond: (settings.runs / governedMs) * 1000,
        baselineWorkflowsPerSecond: (settings.runs / baselineMs) * 1000,
        breakdown,
        burst: {
          requests: settings.burst,
          concurrency: settings.burstConcurrency,
          byAnswer: countAnswers(burstAnswers),
          latency: stats(ms(burstAnswers)),
          holds: { ...holds, leaked: holds.leaked + floodHolds.leaked, open: floodHolds.open },
        },
        quiet: {
          alone: stats(ms(quietAlone)),
          duringFlood: stats(ms(quietDuring)),
          quietAnswers: countAnswers([...quietAlone, ...quietDuring]),
          flood: settings.flood,
          floodAnswers: countAnswers(floodAnswers),
        },
      };
    } finally {
      await stack.close();
    }
  } finally {
    await database?.drop();
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      stores: { type: 'string', default: stores.join(',') },
      runs: { type: 'string', default: '200' },
      posts: { type: 'string', default: '320' },
      burst: { type: 'string', default: '1000' },
      'burst-concurrency': { type: 'string', default: '200' },
      flood: { type: 'string', default: '500' },
      'temporal-db-dir': { type: 'string' },
      'temporal-address': { type: 'string' },
      admission: { type: 'string', default: 'in-process' },
      variants: { type: 'string' },
      label: { type: 'string' },
    },
  });
  const settings = {
    runs: Number(values.runs),
    posts: Number(values.posts),
    burst: Number(values.burst),
    burstConcurrency: Number(values['burst-concurrency']),
    flood: Number(values.flood),
  };
  const chosen = values.stores.split(',').filter((s): s is Store => (stores as readonly string[]).includes(s));
  // Worker settings compared on one server, each after the other and then again in the same order,
  // so a load that other work puts on the machine weighs on every variant alike.
  const variants = values.variants ? (JSON.parse(values.variants) as Variant[]) : undefined;
  const sites = values.admission.split(',').filter((s): s is AdmissionSite => (admissionSites as readonly string[]).includes(s));
  const cells = chosen.flatMap((store) => sites.map((admission) => ({ store, admission })));
  const plan: { store: Store; admission: AdmissionSite; variant?: Variant }[] = variants
    ? [...variants, ...variants].flatMap((variant) => cells.map((cell) => ({ ...cell, variant })))
    : cells;
  const experiment = values['temporal-db-dir'] ?? values['temporal-address'] ?? values.variants ?? values.label;
  const startedAt = new Date();
  const server = await openBenchServer('runs', {
    dbParentDir: values['temporal-db-dir'],
    address: values['temporal-address'],
  });
  const results: StoreResult[] = [];
  try {
    for (const { store, admission, variant } of plan) {
      const result = await measureStore(server, store, settings, admission, variant);
      results.push(result);
      process.stdout.write(
        `[${store} ${admission}${variant ? ` ${variant.label}` : ''}] bare start p99 ${result.bareStart.p99.toFixed(0)} ms, ` +
          `POST p50 / p99 ${result.post.p50} / ${result.post.p99} ms, governed ${result.governedRunsPerSecond.toFixed(1)} runs/s, ` +
          `bare ${result.baselineWorkflowsPerSecond.toFixed(1)} workflows/s\n`,
      );
    }
  } finally {
    await server.stop();
  }
  const wallSeconds = (Date.now() - startedAt.getTime()) / 1000;
  const markdown = report(results, settings, startedAt, wallSeconds, process.argv.slice(2));
  process.stdout.write(`\n${markdown}\n`);
  // One section (and results file) per set of ledgers and admission sites, so each can be measured
  // in a run of its own on a slow machine.
  const section = [
    'runs',
    ...(chosen.length === stores.length ? [] : chosen),
    ...(values.admission === 'in-process' ? [] : sites),
  ].join('-');
  const name = values.label ? `runs-${values.label}` : experiment ? `${section}-experiment` : section;
  process.stdout.write(
    `results: ${writeResults(name, { date: startedAt.toISOString(), machine: machineDescription(), settings, results })}\n`,
  );
  if (!experiment) process.stdout.write(`updated: ${await updateBenchmarksSection(section, markdown)}\n`);
}

function report(
  results: StoreResult[],
  settings: { runs: number; posts: number; burst: number; burstConcurrency: number; flood: number },
  startedAt: Date,
  wallSeconds: number,
  args: string[],
): string {
  const ms = (n: number) => (Number.isFinite(n) ? `${Math.round(n).toLocaleString('en')} ms` : '–');
  const x = (n: number) => `${n.toFixed(2)}×`;
  const label = ({ store, admission, variant }: Pick<StoreResult, 'store' | 'admission' | 'variant'>) =>
    `${store === 'sqlite' ? 'SQLite' : 'PostgreSQL'}, admitted ${admission === 'in-process' ? 'in the API' : 'by the workflow'}` +
    (variant ? ` (${variant})` : '');
  const answers = (counts: Record<string, number>) =>
    Object.entries(counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, n]) => `${n} × ${key}`)
      .join(', ');
  const targets = results.map((r) => {
    const postRatio = r.post.p99 / r.bareStart.p99;
    const throughputRatio = r.governedRunsPerSecond / r.baselineWorkflowsPerSecond;
    const fiveHundreds = Object.entries(r.burst.byAnswer)
      .filter(([key]) => key.startsWith('5') && !key.startsWith('503'))
      .reduce((sum, [, n]) => sum + n, 0);
    const fiveOhThree = Object.entries(r.burst.byAnswer)
      .filter(([key]) => key.startsWith('503'))
      .reduce((sum, [, n]) => sum + n, 0);
    const met = (ok: boolean) => (ok ? 'met' : '**missed**');
    return (
      `- ${label(r)}: POST p99 ${x(postRatio)} the bare start's (≤ 2×: ${met(postRatio <= 2)}); ` +
      `governed ${x(throughputRatio)} the bare one-activity workflow's runs/s (≥ 0.8×: ${met(throughputRatio >= 0.8)}); ` +
      `burst: ${fiveHundreds} 5xx other than 503 and ${r.burst.holds.leaked} leaked holds (zero: ${met(fiveHundreds === 0 && r.burst.holds.leaked === 0)}), ` +
      `${((fiveOhThree / r.burst.requests) * 100).toFixed(1)} % answered 503`
    );
  });
  return [
    `## Runs: admission latency, throughput, burst (${results
      .map((r) => label(r))
      .filter((name, i, all) => all.indexOf(name) === i)
      .join(', ')})`,
    '',
    `Taken ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machineDescription()}, a machine shared with other ` +
      `engineers' test runs, so figures move between runs; ratios are measured within one run on one dev server. ` +
      `Command: \`npm run bench -- runs${args.length ? ` ${args.join(' ')}` : ''}\` (${Math.round(wallSeconds)} s).`,
    '',
    `Every run books into three windows: its tenant's day (cost), its principal's day (tokens, ${principals} principals) and ` +
      `the model's month (cost), limits high enough to admit. Simulated provider, 1 output token, no delay. ` +
      `The bare start is \`client.workflow.start\` of the one-activity workflow on the same server (the floor for a POST ` +
      `that starts a workflow), the bare workflow runs that one no-op activity; both on a worker with the SDK's defaults.`,
    '',
    markdownTable(
      [
        'ledger',
        `bare start p50 / p99 (c=${concurrency})`,
        `POST /v1/runs p50 / p99 (c=${concurrency})`,
        'POST p99 ÷ bare p99',
        'governed runs/s',
        'bare workflow/s',
        'ratio',
      ],
      results.map((r) => [
        label(r),
        `${ms(r.bareStart.p50)} / ${ms(r.bareStart.p99)}`,
        `${ms(r.post.p50)} / ${ms(r.post.p99)}${r.post.failed ? ` (${r.post.failed} not 202)` : ''}`,
        x(r.post.p99 / r.bareStart.p99),
        r.governedRunsPerSecond.toFixed(1),
        r.baselineWorkflowsPerSecond.toFixed(1),
        x(r.governedRunsPerSecond / r.baselineWorkflowsPerSecond),
      ]),
    ),
    '',
    `${settings.posts} starts and ${settings.posts} POSTs; ${settings.runs} runs each way end to end. CPU per workflow ` +
      `from its start to its end (this process: API, workers, load; and the dev server): ${results
        .map(
          (r) =>
            `${label(r)} bare ${r.cpu.bare.nodeMs.toFixed(1)} + ${r.cpu.bare.serverMs.toFixed(1)} ms, ` +
            `governed ${r.cpu.governed.nodeMs.toFixed(1)} + ${r.cpu.governed.serverMs.toFixed(1)} ms`,
        )
        .join('; ')} (PostgreSQL's own CPU not counted).`,
    '',
    `### Where a POST's time goes (medians over the ${settings.posts} POSTs at c=${concurrency})`,
    '',
    markdownTable(
      ['phase', ...results.flatMap((r) => [`${label(r)} median`, 'p90'])],
      [
        ...admissionPhases
          .filter(([phase]) => results.some((r) => Number.isFinite(r.breakdown.medianMs[phase])))
          .map(([phase, title]) => [
            title,
            ...results.flatMap((r) => [ms(r.breakdown.medianMs[phase]), ms(r.breakdown.p90Ms[phase])]),
          ]),
        ['whole POST (median)', ...results.flatMap((r) => [ms(r.breakdown.medianTotalMs), ''])],
        ...['reserve', 'evaluateRequest', 'recordRoutingDecision'].flatMap((method) =>
          results.some((r) => r.breakdown.ledger[method])
            ? [
                [
                  `ledger \`${method}\` (p50 / p99, calls)`,
                  ...results.flatMap((r) => {
                    const call = r.breakdown.ledger[method];
                    return call ? [`${ms(call.p50Ms)} / ${ms(call.p99Ms)}`, `${call.calls}`] : ['–', ''];
                  }),
                ],
              ]
            : [],
        ),
      ],
    ),
    '',
    `Phases are contiguous (their medians need not add up to the median POST). ${results
      .map(
        (r) =>
          `${label(r)}: ${r.breakdown.samples} samples (${r.breakdown.inProcess} admitted in the API), ` +
          `${r.breakdown.laterTask} answered by a later workflow task than the first`,
      )
      .join('; ')}. Ledger calls per method while the POSTs ran: ${results
      .map(
        (r) =>
          `${label(r)} ${Object.entries(r.breakdown.ledger)
            .map(([method, call]) => `${method} ${call.calls} × ${call.p50Ms.toFixed(1)} ms`)
            .join(', ')}`,
      )
      .join('; ')}.`,
    '',
    `### Burst: ${settings.burst} POSTs at concurrency ${settings.burstConcurrency}`,
    '',
    markdownTable(
      ['ledger', 'answers', 'p50 / p99', 'leaked holds (pending, run ended)'],
      results.map((r) => [
        label(r),
        answers(r.burst.byAnswer),
        `${ms(r.burst.latency.p50)} / ${ms(r.burst.latency.p99)}`,
        `${r.burst.holds.leaked}${r.burst.holds.open ? ` (${r.burst.holds.open} runs still open)` : ''}`,
      ]),
    ),
    '',
    `### A quiet tenant while another bursts (${quietPosts} POSTs one after another)`,
    '',
    markdownTable(
      [
        'ledger',
        `${quietTenant} alone p50 / max`,
        `${quietTenant} during ${settings.flood} POSTs of ${busyTenant} at once, p50 / max`,
        `${quietTenant} answers`,
        `${busyTenant}'s answers`,
      ],
      results.map((r) => [
        label(r),
        `${ms(r.quiet.alone.p50)} / ${ms(r.quiet.alone.max)}`,
        `${ms(r.quiet.duringFlood.p50)} / ${ms(r.quiet.duringFlood.max)} (${r.quiet.duringFlood.n} POSTs)`,
        answers(r.quiet.quietAnswers),
        answers(r.quiet.floodAnswers),
      ]),
    ),
    '',
    '### Targets',
    '',
    ...targets,
  ].join('\n');
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
