import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { routingModes, taskClasses } from '../../domain/routing';
import { runStates } from '../../domain/run-state';
import { apiRequest, formatTable, oneOf, target, withApiOptions } from '../api-client';
import { guarded, print, usd, type JsonOption } from '../output';

interface RunView {
  runId: string;
  tenantId: string;
  principalId: string;
  state: string;
  model: { requested: string | null; selected: string };
  costMicroUsd: number;
  usage: { inputTokens: number; outputTokens: number; estimated: boolean } | null;
  admission?: {
    status: string;
    maxOutputTokens: number;
    clamped: boolean;
    reservedMicroUsd: number;
    refusal?: { message: string };
  };
  routing?: { action: string; explanations: string[] };
  error?: { code: string; message: string };
  output?: string;
  createdAt: string;
  temporal: { uiUrl: string | null };
}

function describeRun(run: RunView): string {
  const lines = [
    `run ${run.runId}: ${run.state} on ${run.model.selected}` +
      (run.model.requested && run.model.requested !== run.model.selected ? ` (requested ${run.model.requested})` : ''),
    `  tenant ${run.tenantId}, principal ${run.principalId}, created ${run.createdAt}`,
  ];
  if (run.routing) lines.push(`  routing: ${run.routing.action}; ${run.routing.explanations.join(' ')}`);
  if (run.admission) {
    lines.push(
      `  admission: ${run.admission.status}, reserved ${usd(run.admission.reservedMicroUsd)} for up to ${run.admission.maxOutputTokens} output tokens` +
        (run.admission.clamped ? ' (clamped to the budget)' : ''),
    );
  }
  if (run.usage) {
    lines.push(
      `  usage: ${run.usage.inputTokens} in / ${run.usage.outputTokens} out tokens${run.usage.estimated ? ' (estimated)' : ''}, cost ${usd(run.costMicroUsd)}`,
    );
  }
  if (run.error) lines.push(`  error: ${run.error.code}: ${run.error.message}`);
  if (run.temporal.uiUrl) lines.push(`  Temporal UI: ${run.temporal.uiUrl}`);
  return lines.join('\n');
}

export function registerRunsCommand(program: Command): void {
  const runs = program.command('runs').description('start, follow, cancel and approve runs (through the HTTP API)');

  withApiOptions(
    runs
      .command('start')
      .description('start a run; prints its admission (or the budget refusal)')
      .requiredOption('--tenant <tenantId>', 'tenant the run is charged to')
      .requiredOption('--principal <principalId>', 'principal (service or user) within the tenant')
      .option('--prompt <text>', 'the user message (or --messages)')
      .option('--messages <file>', 'a JSON file with [{ role, content }, ...]')
      .option('--model <modelId>', 'model to request (default: routing.defaultModel)')
      .option('--max-output-tokens <n>', 'output cap', (v) => Number.parseInt(v, 10))
      .option('--task-class <class>', taskClasses.join(' | '), oneOf(taskClasses))
      .option('--routing-mode <mode>', routingModes.join(' | '), oneOf(routingModes))
      .option('--idempotency-key <key>', 'the same key returns the same run')
      .option('--simulate <tokens>', 'for simulated models: how many tokens to stream', (v) => Number.parseInt(v, 10)),
  ).action(
    guarded(
      async (
        options: JsonOption & {
          tenant: string;
          principal: string;
          prompt?: string;
          messages?: string;
          model?: string;
          maxOutputTokens?: number;
          taskClass?: string;
          routingMode?: string;
          idempotencyKey?: string;
          simulate?: number;
        },
      ) => {
        if (!options.prompt === !options.messages) throw new Error('give exactly one of --prompt and --messages');
        const messages = options.prompt
          ? [{ role: 'user', content: options.prompt }]
          : (JSON.parse(readFileSync(options.messages as string, 'utf8')) as unknown);
        const started = await apiRequest<RunView & { maxOutputTokens: number }>(target(options), 'POST', '/v1/runs', {
          tenantId: options.tenant,
          principalId: options.principal,
          messages,
          ...(options.model ? { model: options.model } : {}),
          ...(options.maxOutputTokens ? { maxOutputTokens: options.maxOutputTokens } : {}),
          ...(options.taskClass ? { taskClass: options.taskClass } : {}),
          ...(options.routingMode ? { routingMode: options.routingMode } : {}),
          ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
          ...(options.simulate !== undefined ? { simulation: { outputTokens: options.simulate, chunkDelayMs: 20 } } : {}),
        });
        print(options, started, () => {
          const admission = started.admission
            ? `${started.admission.status}, up to ${started.admission.maxOutputTokens} output tokens, reserved ${usd(started.admission.reservedMicroUsd)}`
            : 'pending (no worker decided yet)';
          return `run ${started.runId}: ${started.state} on ${started.model.selected}; admission ${admission}`;
        });
      },
    ),
  );

  withApiOptions(
    runs.command('get <runId>').description('show a run: routing, admission, usage, cost and the Temporal UI link'),
  ).action(
    guarded(async (runId: string, options: JsonOption) => {
      const run = await apiRequest<RunView>(target(options), 'GET', `/v1/runs/${encodeURIComponent(runId)}`);
      print(options, run, () => describeRun(run));
    }),
  );

  withApiOptions(
    runs
      .command('list')
      .description('list runs, newest first')
      .option('--tenant <tenantId>')
      .option('--state <state>', runStates.join(' | '), oneOf(runStates))
      .option('--model <modelId>')
      .option('--limit <n>', 'page size (default 50)')
      .option('--cursor <cursor>', 'nextCursor of the previous page'),
  ).action(
    guarded(
      async (options: JsonOption & { tenant?: string; state?: string; model?: string; limit?: string; cursor?: string }) => {
        const query = new URLSearchParams();
        if (options.tenant) query.set('tenantId', options.tenant);
        if (options.state) query.set('state', options.state);
        if (options.model) query.set('model', options.model);
        if (options.limit) query.set('limit', options.limit);
        if (options.cursor) query.set('cursor', options.cursor);
        const page = await apiRequest<{ items: RunView[]; nextCursor: string | null }>(
          target(options),
          'GET',
          `/v1/runs?${query}`,
        );
        print(options, page, () => {
          const rows = page.items.map((r) => [r.runId, r.tenantId, r.state, r.model.selected, usd(r.costMicroUsd), r.createdAt]);
          const table = formatTable(['RUN', 'TENANT', 'STATE', 'MODEL', 'COST', 'CREATED'], rows);
          return page.nextCursor ? `${table}\nmore: --cursor ${page.nextCursor}` : table;
        });
      },
    ),
  );

  withApiOptions(runs.command('cancel <runId>').description('cancel a run (it settles what it used)')).action(
    guarded(async (runId: string, options: JsonOption) => {
      const answer = await apiRequest<{ runId: string; state: string }>(
        target(options),
        'POST',
        `/v1/runs/${encodeURIComponent(runId)}/cancel`,
        {},
      );
      print(options, answer, () => `run ${answer.runId}: cancel requested (was ${answer.state})`);
    }),
  );

  withApiOptions(
    runs
      .command('approve <runId>')
      .description('approve (or with --deny, deny) a run awaiting a budget approval')
      .option('--deny', 'deny instead of approving')
      .option('--note <text>', 'why, recorded with the decision'),
  ).action(
    guarded(async (runId: string, options: JsonOption & { deny?: boolean; note?: string }) => {
      const run = await apiRequest<RunView>(target(options), 'POST', `/v1/runs/${encodeURIComponent(runId)}/approval`, {
        decision: options.deny ? 'deny' : 'approve',
        ...(options.note ? { note: options.note } : {}),
      });
      print(options, run, () => `run ${run.runId}: ${options.deny ? 'denied' : 'approved'}`);
    }),
  );
}
