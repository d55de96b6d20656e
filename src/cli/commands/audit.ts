import type { Command } from 'commander';
import type { AuditList } from '../../api/audit/schemas';
import { apiRequest, formatTable, target, withApiOptions } from '../api-client';
import { guarded, print, type JsonOption } from '../output';

export function registerAuditCommand(program: Command): void {
  const audit = program.command('audit').description('the audit log of privileged actions (through the HTTP API)');

  withApiOptions(
    audit
      .command('list')
      .description('list audit entries, newest first (needs an all-tenant admin token)')
      .option('--actor <name>', "only this token's entries (its name)")
      .option('--action <action>', 'only this action, e.g. run.approve or budget.policy.put')
      .option('--since <instant>', 'entries at or after this ISO-8601 instant')
      .option('--until <instant>', 'entries before this ISO-8601 instant')
      .option('--limit <n>', 'page size, 1..500 (default 50)')
      .option('--cursor <cursor>', 'nextCursor of the previous page'),
  ).action(
    guarded(
      async (
        options: JsonOption & {
          actor?: string;
          action?: string;
          since?: string;
          until?: string;
          limit?: string;
          cursor?: string;
        },
      ) => {
        const query = new URLSearchParams();
        for (const key of ['actor', 'action', 'since', 'until', 'limit', 'cursor'] as const) {
          const value = options[key];
          if (value) query.set(key, value);
        }
        const page = await apiRequest<AuditList>(target(options), 'GET', `/v1/audit?${query}`);
        print(options, page, () => {
          const rows = page.items.map((entry) => [
            entry.at,
            entry.actor,
            entry.action,
            entry.target,
            entry.tenantId,
            entry.outcome === 'succeeded'
              ? 'succeeded'
              : `refused ${entry.status}${entry.errorCode ? ` ${entry.errorCode}` : ''}`,
          ]);
          const table = formatTable(['AT', 'ACTOR', 'ACTION', 'TARGET', 'TENANT', 'OUTCOME'], rows);
          return page.nextCursor ? `${table}\nmore: --cursor ${page.nextCursor}` : table;
        });
      },
    ),
  );
}
