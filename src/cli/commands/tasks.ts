import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { apiRequest, formatTable, target, withApiOptions } from '../api-client';
import type { TaskView } from '../../api/tasks/schemas';
import { guarded, print, usd, type JsonOption } from '../output';

/** Same shape the API accepts (`z.iso.datetime({ offset: true })`): a date, a time and a zone. */
const isoDateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

function isoDate(value: string): string {
  if (!isoDateTime.test(value) || Number.isNaN(Date.parse(value))) {
    throw new InvalidArgumentError('expected an ISO 8601 date-time with a zone, e.g. 2030-01-31T12:00:00Z');
  }
  return new Date(value).toISOString();
}

/** Reads `--file` (`-` is stdin) while parsing, so a bad file is reported as that option's error. */
function taskRequestsFile(file: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError(`cannot read it (${(error as Error).message})`);
  }
  let requests: unknown;
  try {
    requests = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`not valid JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(requests) || requests.length === 0) {
    throw new InvalidArgumentError('expected a non-empty JSON array of task requests ([{ "kind": …, "input": … }, …])');
  }
  return requests;
}

function describeTask(task: TaskView): string {
  const lines = [
    `task ${task.taskId}: ${task.state} (${task.kind}, attempt ${task.attempt}/${task.maxAttempts}) on ${task.model.selected}` +
      (task.model.requested && task.model.requested !== task.model.selected ? ` (requested ${task.model.requested})` : ''),
    `  run ${task.runId}, priority ${task.priority}, created ${task.createdAt}` +
      (task.startedAt ? `, started ${task.startedAt}` : '') +
      (task.finishedAt ? `, finished ${task.finishedAt}` : ''),
  ];
  const limits = [
    task.notBefore && `not before ${task.notBefore}`,
    task.expiresAt && `expires ${task.expiresAt}`,
    task.timeoutMs !== undefined && `timeout ${task.timeoutMs} ms`,
    task.budgetTokens !== undefined && `up to ${task.budgetTokens} output tokens an attempt`,
  ].filter(Boolean);
  if (limits.length > 0) lines.push(`  limits: ${limits.join(', ')}`);
  lines.push(`  cost ${usd(task.costMicroUsd)} over ${task.dispatches} dispatch${task.dispatches === 1 ? '' : 'es'}`);
  if (task.result !== undefined) lines.push(`  result: ${task.result.replace(/\s+/g, ' ')}`);
  if (task.error) lines.push(`  error: ${task.error.code}: ${task.error.message}`);
  lines.push(task.temporal.uiUrl ? `  Temporal UI: ${task.temporal.uiUrl}` : `  Temporal workflow: ${task.temporal.workflowId}`);
  return lines.join('\n');
}

const taskPath = (taskId: string) => `/v1/tasks/${encodeURIComponent(taskId)}`;

export function registerTasksCommand(program: Command): void {
  const tasks = program
    .command('tasks')
    .description("a run's background tasks: add, follow, pause, resume, retry, cancel (through the HTTP API)");

  withApiOptions(
    tasks
      .command('add <runId>')
      .description('add background tasks to a run not yet finishing or ended; prints their task ids')
      .requiredOption('--file <path>', 'a JSON file (- for stdin) with [{ kind, input, priority?, ... }, ...]', taskRequestsFile),
  ).action(
    guarded(async (runId: string, options: JsonOption & { file: unknown[] }) => {
      const added = await apiRequest<{ tasks: TaskView[] }>(
        target(options),
        'POST',
        `/v1/runs/${encodeURIComponent(runId)}/tasks`,
        { backgroundTasks: options.file },
      );
      print(options, added, () => added.tasks.map((task) => task.taskId).join('\n'));
    }),
  );

  withApiOptions(
    tasks.command('get <taskId>').description('show a task: state, attempts, limits, cost, result or error, Temporal link'),
  ).action(
    guarded(async (taskId: string, options: JsonOption) => {
      const task = await apiRequest<TaskView>(target(options), 'GET', taskPath(taskId));
      print(options, task, () => describeTask(task));
    }),
  );

  withApiOptions(tasks.command('list <runId>').description("list a run's background tasks in creation order")).action(
    guarded(async (runId: string, options: JsonOption) => {
      const run = await apiRequest<{ backgroundTasks: TaskView[] }>(
        target(options),
        'GET',
        `/v1/runs/${encodeURIComponent(runId)}`,
      );
      print(options, run.backgroundTasks, () => {
        if (run.backgroundTasks.length === 0) return `run ${runId} has no background tasks`;
        const rows = run.backgroundTasks.map((t) => [
          t.taskId,
          t.kind,
          t.state,
          `${t.attempt}/${t.maxAttempts}`,
          t.priority,
          t.costMicroUsd,
          t.error?.code,
        ]);
        return formatTable(['TASK', 'KIND', 'STATE', 'ATTEMPT', 'PRIORITY', 'COST µUSD', 'ERROR'], rows);
      });
    }),
  );

  const actions = [
    ['pause', 'pause a queued task: it keeps its place but does not start'],
    ['resume', 'resume a paused task: it queues again'],
    ['cancel', 'cancel a queued, paused or running task (a running one settles what it used)'],
  ] as const;
  for (const [action, description] of actions) {
    withApiOptions(tasks.command(`${action} <taskId>`).description(description)).action(
      guarded(async (taskId: string, options: JsonOption) => {
        const task = await apiRequest<TaskView>(target(options), 'POST', `${taskPath(taskId)}/${action}`, {});
        print(options, task, () => `task ${task.taskId}: ${task.state}`);
      }),
    );
  }

  withApiOptions(
    tasks
      .command('retry <taskId>')
      .description('retry a failed, cancelled or expired task: it queues again with its attempts counted afresh')
      .addOption(new Option('--expires-at <iso>', 'a new deadline for the task').argParser(isoDate).conflicts('expiry'))
      .option('--no-expiry', 'drop the deadline'),
  ).action(
    guarded(async (taskId: string, options: JsonOption & { expiresAt?: string; expiry: boolean }) => {
      const body = options.expiresAt ? { expiresAt: options.expiresAt } : options.expiry ? {} : { expiresAt: null };
      const task = await apiRequest<TaskView>(target(options), 'POST', `${taskPath(taskId)}/retry`, body);
      print(options, task, () => `task ${task.taskId}: ${task.state}${task.expiresAt ? `, expires ${task.expiresAt}` : ''}`);
    }),
  );
}
