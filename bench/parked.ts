/**
 * What runs parked on approval cost the worker: 1,000 runs refused by an `approval_required` policy
 * wait in `awaiting_approval` (a durable condition with a 24 h timer each, kept in the worker's
 * sticky cache), then the RSS of a `palyra worker` process (run worker and supervisor worker, as
 * operators run it) and the history of one parked run (encoded bytes, events). Then 50 runs are
 * denied through `POST /v1/runs/:runId/approval`, the rest terminated, and the RSS read again.
 *
 *   npm run bench -- parked [--runs 1000] [--concurrency 32]
 *
 * A dev server of its own, the API in this process, the worker as a child process (its RSS is the
 * worker's alone), a SQLite ledger they share. Target (issue 13): worker RSS under 512 MiB with
 * 1,000 parked runs. Rewrites its section of BENCHMARKS.md.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { temporal } from '@temporalio/proto';
import { drive, machineDescription, markdownTable, updateBenchmarksSection, writeResults } from './results';
import { openBenchServer, openPalyraStack, type PalyraStack } from './support/stack';

const tenant = 'bench-parked';
const targetRssMiB = 512;
const deniedThroughApi = 50;

/**
 * Resident, peak resident and anonymous (heap, stacks: not the mapped node binary and native
 * libraries) memory of a process, in MiB, from /proc.
 */
function memoryOf(pid: number): { rssMiB: number; peakMiB: number; anonMiB: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024, anonMiB: kib('RssAnon') / 1024 };
}

async function waitReady(stack: PalyraStack, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await fetch(`${stack.url}/readyz`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return;
    await delay(250);
  }
  throw new Error(`the worker did not poll ${stack.config.temporal.taskQueue} within ${timeoutMs} ms`);
}

async function main() {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '32' } },
  });
  const runs = Number(values.runs);
  const lanes = Number(values.concurrency);
  const startedAt = new Date();
  const server = await openBenchServer('parked');
  const dataDir = fs.mkdtempSync(path.join(server.dir, 'palyra-'));
  // Shared by the API here and the worker process: one SQLite ledger, one task queue, the policy.
  const shared = {
    dataDir,
    logLevel: 'warn' as const,
    temporal: { address: server.address, taskQueue: 'bench-parked', supervisorTaskQueue: 'bench-parked-supervisor' },
    budgets: {
      policies: [
        {
          policyId: `${tenant}-approval`,
          scope: { kind: 'tenant' as const, id: tenant },
          metric: 'cost' as const,
          window: 'day' as const,
          // Nothing fits under 0: every run waits for an operator.
          hardLimit: 0,
          action: 'approval_required' as const,
        },
      ],
    },
  };
  const configFile = path.join(dataDir, 'palyra.config.json');
  fs.writeFileSync(configFile, JSON.stringify(shared));
  const stack = await openPalyraStack(server, 'parked', { config: shared, withWorker: false });
  const worker = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'src', 'cli', 'main.ts'), 'worker'], {
    // Core's slow-task warnings are expected while 1,000 runs park at once.
    env: { ...process.env, PALYRA_CONFIG: configFile, PALYRA_LOG_LEVEL: 'error' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const workerExited = new Promise((resolve) => worker.once('exit', resolve));
  try {
    await waitReady(stack, 60_000);
    const pid = worker.pid as number;
    await delay(2_000);
    const idle = memoryOf(pid);

    process.stdout.write(`parking ${runs} runs at c=${lanes}\n`);
    const parked: string[] = [];
    const states = new Map<string, number>();
    const parkMs = await drive(runs, lanes, async (i) => {
      const response = await fetch(`${stack.url}/v1/runs`, {
        method: 'POST',
        headers: stack.headers,
        body: JSON.stringify({
          tenantId: tenant,
          principalId: `p${i % 8}`,
          model: 'sim-standard',
          messages: [{ role: 'user', content: `parked benchmark run ${i}` }],
          maxOutputTokens: 16,
          simulation: { outputTokens: 1, chunkDelayMs: 0 },
        }),
      });
      const answer = (await response.json()) as { runId?: string; state?: string };
      const state = `${response.status} ${answer.state ?? ''}`.trim();
      states.set(state, (states.get(state) ?? 0) + 1);
      if (answer.runId) parked.push(answer.runId);
    });
    // The worker's heap settles once the last activations are done.
    await delay(5_000);
    const withParked = memoryOf(pid);
    const one = await server.client.workflow.getHandle(`run-${parked[0]}`).fetchHistory();
    const history = {
      bytes: temporal.api.history.v1.History.encode(one).finish().length,
      events: one.events?.length ?? 0,
    };

    // Through the API for a sample (what an operator does), then terminated: denying all 1,000 one
    // by one costs minutes on a loaded machine and says nothing more about the parked runs.
    const denied = parked.slice(0, deniedThroughApi);
    process.stdout.write(`denying ${denied.length} runs through the API, terminating ${parked.length - denied.length}\n`);
    let denyFailures = 0;
    const denyMs = await drive(denied.length, lanes, async (i) => {
      const response = await fetch(`${stack.url}/v1/runs/${denied[i]}/approval`, {
        method: 'POST',
        headers: stack.headers,
        body: JSON.stringify({ decision: 'deny', note: 'benchmark clean-up' }),
      });
      await response.arrayBuffer();
      if (response.status !== 200) denyFailures++;
    });
    const deniedStates = await Promise.all(
      denied.map((runId) =>
        server.client.workflow
          .getHandle(`run-${runId}`)
          .result()
          .then(
            (run) => (run as { state: string }).state,
            () => 'failed',
          ),
      ),
    );
    const rest = parked.slice(deniedThroughApi);
    await drive(rest.length, lanes, async (i) => {
      await server.client.workflow.getHandle(`run-${rest[i]}`).terminate('benchmark clean-up');
    });
    const ended = deniedStates;
    await delay(2_000);
    const afterDeny = memoryOf(pid);

    const result = {
      date: startedAt.toISOString(),
      machine: machineDescription(),
      runs,
      concurrency: lanes,
      answers: Object.fromEntries(states),
      parkSeconds: parkMs / 1000,
      worker: { idle, withParked, afterDeny },
      history,
      deny: {
        seconds: denyMs / 1000,
        failures: denyFailures,
        endStates: ended.reduce<Record<string, number>>(
          (counts, state) => ({ ...counts, [state]: (counts[state] ?? 0) + 1 }),
          {},
        ),
      },
    };
    const mib = (n: number) => `${n.toFixed(0)} MiB`;
    const markdown = [
      '## Runs parked on approval (`npm run bench -- parked`)',
      '',
      `Taken ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machineDescription()}, shared with other ` +
        `engineers' test runs. Command: \`npm run bench -- parked${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}\`.`,
      '',
      `${runs} runs of tenant \`${tenant}\`, whose only policy is \`approval_required\` with a hard limit of 0, so every run ` +
        `parks in \`awaiting_approval\`; posted at concurrency ${lanes} in ${result.parkSeconds.toFixed(1)} s ` +
        `(${Object.entries(result.answers)
          .map(([state, n]) => `${n} × ${state}`)
          .join(', ')}). The worker is a \`palyra worker\` process (run worker and supervisor worker).`,
      '',
      markdownTable(
        ['measure', 'value'],
        [
          ['worker RSS idle (peak; anonymous)', `${mib(idle.rssMiB)} (${mib(idle.peakMiB)}; ${mib(idle.anonMiB)})`],
          [
            `worker RSS with ${parked.length} parked runs (peak; anonymous)`,
            `${mib(withParked.rssMiB)} (${mib(withParked.peakMiB)}; ${mib(withParked.anonMiB)})`,
          ],
          // Within the garbage collector's swings: the runs' own cost is small beside the process's.
          ['RSS change with the runs parked', `${(withParked.rssMiB - idle.rssMiB).toFixed(0)} MiB`],
          ['history of one parked run', `${(history.bytes / 1024).toFixed(1)} KiB, ${history.events} events`],
          [
            `deny ${denied.length} through the API (c=${lanes}), then terminate the rest`,
            `${result.deny.seconds.toFixed(1)} s, ${denyFailures} refused; ended ${Object.entries(result.deny.endStates)
              .map(([state, n]) => `${n} ${state}`)
              .join(', ')}`,
          ],
          ['worker RSS after the clean-up (peak)', `${mib(afterDeny.rssMiB)} (${mib(afterDeny.peakMiB)})`],
        ],
      ),
      '',
      `Target: worker RSS under ${targetRssMiB} MiB with ${runs} parked runs: ` +
        `${withParked.peakMiB < targetRssMiB ? 'met' : '**missed**'} (peak ${mib(withParked.peakMiB)}).`,
    ].join('\n');
    process.stdout.write(`\n${markdown}\n`);
    process.stdout.write(`results: ${writeResults('parked', result)}\n`);
    process.stdout.write(`updated: ${await updateBenchmarksSection('parked', markdown)}\n`);
  } finally {
    worker.kill('SIGTERM');
    await workerExited;
    await stack.close();
    await server.stop();
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
