import { InvalidArgumentError, type Command } from 'commander';
import { budgetActions, budgetMetrics, budgetWindows, scopeKinds } from '../../domain/budget';
import { apiRequest, formatTable, oneOf, target, withApiOptions, type ApiTargetOptions } from '../api-client';
import { reportFatal } from '../process';

interface Policy {
  policyId: string;
  scope: { kind: string; id?: string };
  metric: string;
  window: string;
  softLimit?: number;
  hardLimit: number;
  action: string;
  enabled: boolean;
  source: string;
}

interface UsageWindow extends Omit<Policy, 'hardLimit' | 'action' | 'source'> {
  periodKey: string;
  spent: number;
  reserved: number;
  limit: number;
  utilization: number;
  status: string;
  alerts: { threshold: string }[];
}

const scopeText = (scope: Policy['scope']) => (scope.id ? `${scope.kind}:${scope.id}` : scope.kind);
/** Cost amounts are stored in micro-USD; show them in dollars for people. */
const amountText = (metric: string, value: number | undefined) =>
  value === undefined ? undefined : metric === 'cost' ? `$${(value / 1e6).toFixed(6).replace(/0{1,4}$/, '')}` : `${value} tok`;

function nonNegativeNumber(value: string): number {
  if (!/^\d+(\.\d+)?$/.test(value)) throw new InvalidArgumentError('expected a non-negative number');
  return Number(value);
}

export function registerBudgetsCommand(program: Command): void {
  const budgets = program.command('budgets').description('budget policies and their usage (through the HTTP API)');

  withApiOptions(budgets.command('list').description('list budget policies')).action(
    async (options: ApiTargetOptions & { json?: boolean }) => {
      try {
        const { items } = await apiRequest<{ items: Policy[] }>(target(options), 'GET', '/v1/budgets/policies');
        if (options.json) return void process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
        const rows = items.map((p) => [
          p.policyId,
          scopeText(p.scope),
          p.metric,
          p.window,
          amountText(p.metric, p.softLimit),
          amountText(p.metric, p.hardLimit),
          p.action,
          p.enabled ? 'yes' : 'no',
          p.source,
        ]);
        process.stdout.write(
          `${formatTable(['POLICY', 'SCOPE', 'METRIC', 'WINDOW', 'SOFT', 'HARD', 'ACTION', 'ENABLED', 'SOURCE'], rows)}\n`,
        );
      } catch (error) {
        reportFatal(error);
      }
    },
  );

  withApiOptions(
    budgets
      .command('set <policyId>')
      .description('create or replace a budget policy')
      .requiredOption(
        '--scope <scope>',
        `${scopeKinds.join(' | ')}, with :id except global (e.g. tenant:acme, principal:acme/svc)`,
      )
      .requiredOption('--metric <metric>', budgetMetrics.join(' | '), oneOf(budgetMetrics))
      .requiredOption('--window <window>', budgetWindows.join(' | '), oneOf(budgetWindows))
      .requiredOption('--hard <limit>', 'hard limit: USD for cost (e.g. 5 or 0.25), tokens for tokens', nonNegativeNumber)
      .option('--soft <limit>', 'soft limit, same unit as --hard', nonNegativeNumber)
      .option('--action <action>', budgetActions.join(' | '), oneOf(budgetActions), 'block')
      .option('--disabled', 'store the policy disabled'),
  ).action(
    async (
      policyId: string,
      options: ApiTargetOptions & {
        json?: boolean;
        scope: string;
        metric: string;
        window: string;
        hard: number;
        soft?: number;
        action: string;
        disabled?: boolean;
      },
    ) => {
      try {
        const [kind, ...rest] = options.scope.split(':');
        const id = rest.join(':') || undefined;
        const toUnit = (value: number) => (options.metric === 'cost' ? Math.round(value * 1e6) : Math.round(value));
        const body = {
          scope: id ? { kind, id } : { kind },
          metric: options.metric,
          window: options.window,
          hardLimit: toUnit(options.hard),
          ...(options.soft !== undefined ? { softLimit: toUnit(options.soft) } : {}),
          action: options.action,
          enabled: !options.disabled,
        };
        const stored = await apiRequest<Policy>(
          target(options),
          'PUT',
          `/v1/budgets/policies/${encodeURIComponent(policyId)}`,
          body,
        );
        if (options.json) return void process.stdout.write(`${JSON.stringify(stored, null, 2)}\n`);
        process.stdout.write(
          `policy ${stored.policyId}: ${scopeText(stored.scope)} ${stored.metric} per ${stored.window}, hard ${amountText(stored.metric, stored.hardLimit)}, ${stored.action}\n`,
        );
      } catch (error) {
        reportFatal(error);
      }
    },
  );

  withApiOptions(
    budgets
      .command('usage')
      .description('usage of each policy’s current window')
      .option('--at <time>', 'ISO time inside the windows to show'),
  ).action(async (options: ApiTargetOptions & { json?: boolean; at?: string }) => {
    try {
      const query = options.at ? `?at=${encodeURIComponent(options.at)}` : '';
      const usage = await apiRequest<{ at: string; policies: UsageWindow[] }>(
        target(options),
        'GET',
        `/v1/budgets/usage${query}`,
      );
      if (options.json) return void process.stdout.write(`${JSON.stringify(usage, null, 2)}\n`);
      const rows = usage.policies.map((w) => [
        w.policyId,
        `${w.window} ${w.periodKey}`,
        amountText(w.metric, w.spent),
        amountText(w.metric, w.reserved),
        amountText(w.metric, w.limit),
        `${(w.utilization * 100).toFixed(1)}%`,
        w.status,
        w.alerts.map((a) => a.threshold).join(',') || undefined,
      ]);
      process.stdout.write(
        `${formatTable(['POLICY', 'WINDOW', 'SPENT', 'RESERVED', 'LIMIT', 'USED', 'STATUS', 'ALERTS'], rows)}\n`,
      );
    } catch (error) {
      reportFatal(error);
    }
  });
}
