import fs from 'node:fs';
import type { RunningDevServer } from '../../src/temporal/dev-server';
import { testEnv } from './env';
import { dropTestSchemas } from './ledger';

export default async function globalTeardown(): Promise<void> {
  const postgresUrl = process.env[testEnv.postgresUrl];
  if (postgresUrl) await dropTestSchemas(postgresUrl);
  const state = (globalThis as Record<string, unknown>).__palyraTestTemporal as
    { server: RunningDevServer; dir: string } | undefined;
  if (!state) return;
  await state.server.stop();
  fs.rmSync(state.dir, { recursive: true, force: true });
}
