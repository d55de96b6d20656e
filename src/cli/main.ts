import { Command } from 'commander';
import { registerApiCommand } from './commands/api';
import { registerAuditCommand } from './commands/audit';
import { registerBudgetsCommand } from './commands/budgets';
import { registerIncidentsCommand } from './commands/incidents';
import { registerRunsCommand } from './commands/runs';
import { registerTasksCommand } from './commands/tasks';
import { registerDevCommand } from './commands/dev';
import { registerDoctorCommand } from './commands/doctor';
import { registerToolsCommand } from './commands/tools';
import { registerWorkerCommand } from './commands/worker';
import { palyraVersion } from './version';

const program = new Command()
  .name('palyra')
  .description('Palyra: durable, budget-governed LLM runs on Temporal')
  .version(palyraVersion());

registerDevCommand(program);
registerWorkerCommand(program);
registerApiCommand(program);
registerToolsCommand(program);
registerBudgetsCommand(program);
registerRunsCommand(program);
registerTasksCommand(program);
registerIncidentsCommand(program);
registerAuditCommand(program);
registerDoctorCommand(program);

program.parseAsync(process.argv).catch((error: Error) => {
  process.stderr.write(`palyra: ${error.message}\n`);
  process.exitCode = 1;
});
