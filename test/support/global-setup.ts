import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { toolsDir } from '../../src/cli/temporal-target';
import { loadConfig } from '../../src/config';
import { locateTool, startDevServer, temporalCli } from '../../src/temporal/dev-server';
import { findFreePort } from '../../src/util/net';
import { testEnv } from './env';
import { dropTestSchemas } from './ledger';

/**
 * One Temporal dev server for the whole test run, on free ports and a temporary DB file. Tests
 * reach it through the variables in `testEnv`; each test uses its own task queue.
 */
const defaultPostgresUrl = 'postgres://postgres@127.0.0.1:5432/test';

/**
 * PostgreSQL tests run when a server answers. With PALYRA_TEST_POSTGRES_URL set (CI sets it) an
 * unreachable server fails the run instead of skipping them.
 */
async function probePostgres(): Promise<void> {
  const explicit = process.env[testEnv.postgresUrl];
  const url = explicit || defaultPostgresUrl;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('select 1');
    process.env[testEnv.postgresUrl] = url;
    await dropTestSchemas(url, { leftovers: true }); // of runs interrupted long ago, not of one running beside us
  } catch (error) {
    if (explicit)
      throw new Error(`${testEnv.postgresUrl}=${explicit} is set but PostgreSQL is unreachable: ${(error as Error).message}`);
    delete process.env[testEnv.postgresUrl];
    process.stderr.write(
      `\nPostgreSQL not reachable at ${url}: PostgreSQL ledger tests are skipped (set ${testEnv.postgresUrl} to require them)\n`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

export default async function globalSetup(): Promise<void> {
  await probePostgres();
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
