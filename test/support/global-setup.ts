import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toolsDir } from '../../src/cli/temporal-target';
import { loadConfig } from '../../src/config';
import { locateTool, startDevServer, temporalCli } from '../../src/temporal/dev-server';
import { findFreePort } from '../../src/util/net';
import { testEnv } from './env';

/**
 * One Temporal dev server for the whole test run, on free ports and a temporary DB file. Tests
 * reach it through the variables in `testEnv`; each test uses its own task queue.
 */
export default async function globalSetup(): Promise<void> {
  const cli = locateTool(temporalCli, {
    // Where `npm test`'s pretest step (`palyra tools`) put it, honouring PALYRA_DATA_DIR.
    toolsDir: toolsDir(loadConfig().config),
    // Tests never download anything: `npm test` provisions the pinned CLI in its pretest step.
    allowInstall: false,
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-test-temporal-'));
  const server = await startDevServer({
    cliPath: cli.path,
    port: await findFreePort(),
    uiPort: await findFreePort(),
    dbFile: path.join(dir, 'temporal.db'),
    namespace: 'default',
  });
  process.env[testEnv.temporalAddress] = server.address;
  process.env[testEnv.temporalCliPath] = cli.path;
  (globalThis as Record<string, unknown>).__palyraTestTemporal = { server, dir };
}
