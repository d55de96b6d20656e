/**
 * Time from launching `palyra dev` to `/readyz` = 200, as printed by the launcher, and to the
 * first HTTP 200 seen from outside. The first round uses a new data dir (a new dev-server DB);
 * the rest restart on the same one, as a developer does. Target: under 10 s warm.
 *
 *   npm run bench -- startup [rounds=5]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toolsDir } from '../src/cli/temporal-target';
import { loadConfig } from '../src/config';
import { locateTool, temporalCli } from '../src/temporal/dev-server';
import { findFreePort } from '../src/util/net';
import { cliEnv, descendantsOf, isAlive, runCli } from '../test/support/processes';
import { percentile, writeResults } from './results';

async function main() {
  const rounds = Number(process.argv[2] ?? 5);
  const cli = locateTool(temporalCli, { toolsDir: toolsDir(loadConfig().config), allowInstall: true });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-bench-startup-'));
  fs.writeFileSync(path.join(dataDir, 'palyra.config.yaml'), '{}\n');
  const samples: { round: number; kind: 'cold' | 'warm'; launcherMs: number; observedMs: number }[] = [];

  for (let round = 1; round <= rounds; round++) {
    const port = await findFreePort();
    const env = cliEnv({
      PALYRA_CONFIG: path.join(dataDir, 'palyra.config.yaml'),
      PALYRA_DATA_DIR: dataDir,
      PALYRA_PORT: String(port),
      PALYRA_DEV_TEMPORAL_PORT: String(await findFreePort()),
      PALYRA_DEV_TEMPORAL_UI_PORT: String(await findFreePort()),
      TEMPORAL_CLI_PATH: cli.path,
      PALYRA_LOG_LEVEL: 'warn',
    });
    const launchedAt = Date.now();
    const dev = runCli(['dev'], env);
    let observedMs = NaN;
    for (let i = 0; i < 1200; i++) {
      const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) {
        observedMs = Date.now() - launchedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const printed = await dev.waitForOutput(/ready in ([\d.]+) s/, 60_000);
    const children = descendantsOf(dev.child.pid as number);
    dev.child.kill('SIGTERM');
    await dev.exited;
    while (children.some(isAlive)) await new Promise((r) => setTimeout(r, 50));
    samples.push({ round, kind: round === 1 ? 'cold' : 'warm', launcherMs: Number(printed[1]) * 1000, observedMs });
    process.stdout.write(`round ${round}: launcher ${printed[1]} s, observed ${(observedMs / 1000).toFixed(2)} s\n`);
  }
  fs.rmSync(dataDir, { recursive: true, force: true });

  const warm = samples
    .filter((s) => s.kind === 'warm')
    .map((s) => s.observedMs)
    .sort((a, b) => a - b);
  const summary = {
    rounds,
    coldObservedMs: samples[0]?.observedMs,
    warmObservedP50Ms: percentile(warm, 50),
    warmObservedMaxMs: warm[warm.length - 1],
    targetWarmMs: 10_000,
    machine: { cpus: os.cpus().length, node: process.version },
  };
  process.stdout.write(
    `\n| start | time to /readyz 200 |\n|---|---|\n| cold (new data dir) | ${(summary.coldObservedMs! / 1000).toFixed(2)} s |\n` +
      `| warm p50 | ${(summary.warmObservedP50Ms / 1000).toFixed(2)} s |\n| warm max | ${((summary.warmObservedMaxMs ?? NaN) / 1000).toFixed(2)} s |\n` +
      `target: warm under 10 s\n`,
  );
  process.stdout.write(`results: ${writeResults('startup', { summary, samples })}\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
