import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { findFreePort } from '../../src/util/net';
import { delay } from '../../src/util/time';
import { testEnv } from '../support/env';
import { cliEnv, descendantsOf, isAlive, killLeftoverProcesses, runCli, type CliProcess } from '../support/processes';

const temporalCliPath = () => process.env[testEnv.temporalCliPath] as string;

afterEach(killLeftoverProcesses);

async function devEnvironment() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-e2e-'));
  const emptyConfig = path.join(dataDir, 'palyra.config.yaml');
  fs.writeFileSync(emptyConfig, '# defaults only\n');
  const ports = { api: await findFreePort(), temporal: await findFreePort(), ui: await findFreePort() };
  const env = cliEnv({
    PALYRA_CONFIG: emptyConfig,
    PALYRA_DATA_DIR: dataDir,
    PALYRA_PORT: String(ports.api),
    PALYRA_DEV_TEMPORAL_PORT: String(ports.temporal),
    PALYRA_DEV_TEMPORAL_UI_PORT: String(ports.ui),
    TEMPORAL_CLI_PATH: temporalCliPath(),
    PALYRA_LOG_LEVEL: 'warn',
  });
  return { dataDir, ports, env, api: `http://127.0.0.1:${ports.api}` };
}

async function stopWithSigterm(dev: CliProcess): Promise<void> {
  const descendants = descendantsOf(dev.child.pid as number);
  expect(descendants.length).toBeGreaterThan(0); // at least the Temporal dev server
  dev.child.kill('SIGTERM');
  const { code } = await dev.exited;
  expect(code).toBe(0);
  // Give the kernel a moment to reap, then nothing Palyra started may be left.
  for (let i = 0; i < 50 && descendants.some(isAlive); i++) await delay(100);
  expect(descendants.filter(isAlive)).toEqual([]);
}

describe('palyra dev (end to end)', () => {
  it('starts the whole stack, runs a request, stops cleanly on SIGTERM, and keeps history across a restart', async () => {
    const { dataDir, ports, env, api } = await devEnvironment();

    const first = runCli(['dev'], env);
    const ready = await first.waitForOutput(/ready in ([\d.]+) s/, 90_000);
    expect(Number(ready[1])).toBeGreaterThan(0);
    expect(first.stdout()).toContain(`API          ${api}`);
    expect(first.stdout()).toContain(`Temporal UI  http://127.0.0.1:${ports.ui}`);
    const token = fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
    expect(first.stdout()).toContain(path.join(dataDir, 'admin.token'));
    expect(fs.statSync(path.join(dataDir, 'admin.token')).mode & 0o777).toBe(0o600);

    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const started = await fetch(`${api}/v1/runs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        tenantId: 'acme',
        principalId: 'e2e',
        messages: [{ role: 'user', content: 'hello' }],
        simulation: { outputTokens: 10, chunkDelayMs: 10 },
      }),
    });
    expect(started.status).toBe(202);
    const { runId } = (await started.json()) as { runId: string };

    let run: { state: string; temporal: { uiUrl: string } } | undefined;
    for (let i = 0; i < 100 && run?.state !== 'succeeded'; i++) {
      await delay(100);
      run = (await (await fetch(`${api}/v1/runs/${runId}`, { headers })).json()) as typeof run;
    }
    expect(run?.state).toBe('succeeded');
    expect(run?.temporal.uiUrl).toContain(`http://127.0.0.1:${ports.ui}/namespaces/default/workflows/run-${runId}/`);
    expect((await fetch(`http://127.0.0.1:${ports.ui}/`)).status).toBe(200);

    // SIGTERM while a second run is streaming: the worker drains (the activity finishes), the
    // dev server is stopped by shutdown itself (its pid file goes), and nothing is left running.
    const inFlight = await fetch(`${api}/v1/runs`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        tenantId: 'acme',
        principalId: 'e2e',
        messages: [{ role: 'user', content: 'slow' }],
        simulation: { outputTokens: 30, chunkDelayMs: 50 },
      }),
    });
    const inFlightRunId = ((await inFlight.json()) as { runId: string }).runId;
    for (let i = 0; i < 100; i++) {
      const state = ((await (await fetch(`${api}/v1/runs/${inFlightRunId}`, { headers })).json()) as { state: string }).state;
      if (state === 'running') break;
      await delay(50);
    }
    await stopWithSigterm(first);
    expect(first.stderr()).toContain('SIGTERM received, shutting down');
    expect(fs.existsSync(path.join(dataDir, 'temporal-dev-server.pid'))).toBe(false);

    const second = runCli(['dev'], env);
    await second.waitForOutput(/ready in ([\d.]+) s/, 90_000);
    const again = (await (await fetch(`${api}/v1/runs/${runId}`, { headers })).json()) as { state: string };
    expect(again.state).toBe('succeeded');
    let drained: { state: string; output?: string } = { state: 'unknown' };
    for (let i = 0; i < 100 && drained.state !== 'succeeded'; i++) {
      drained = (await (await fetch(`${api}/v1/runs/${inFlightRunId}`, { headers })).json()) as typeof drained;
      await delay(100);
    }
    expect(drained.state).toBe('succeeded');
    expect(drained.output?.split(' ')).toHaveLength(30);
    await stopWithSigterm(second);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 240_000);
});

describe('palyra dev start-up errors', () => {
  async function expectOneLineFailure(env: NodeJS.ProcessEnv, expected: RegExp) {
    const dev = runCli(['dev'], env);
    const { code } = await dev.exited;
    expect(code).not.toBe(0);
    const lines = dev.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^palyra: /);
    expect(lines[0]).toMatch(expected);
  }

  it('names the API port when it is already in use', async () => {
    const { env, ports } = await devEnvironment();
    const blocker = net.createServer().listen(ports.api, '127.0.0.1');
    try {
      await expectOneLineFailure(env, new RegExp(`port ${ports.api} \\(Palyra API\\) is already in use.*set PALYRA_PORT`));
    } finally {
      blocker.close();
    }
  }, 60_000);

  it('names the Temporal port when it is already in use', async () => {
    const { env, ports } = await devEnvironment();
    const blocker = net.createServer().listen(ports.temporal, '127.0.0.1');
    try {
      await expectOneLineFailure(
        env,
        new RegExp(`port ${ports.temporal} \\(Temporal dev server gRPC\\).*PALYRA_DEV_TEMPORAL_PORT`),
      );
    } finally {
      blocker.close();
    }
  }, 60_000);

  it('explains an unreachable TEMPORAL_ADDRESS', async () => {
    const { env } = await devEnvironment();
    await expectOneLineFailure(
      { ...env, TEMPORAL_ADDRESS: '127.0.0.1:1' },
      /cannot reach Temporal at 127\.0\.0\.1:1: check TEMPORAL_ADDRESS/,
    );
  }, 60_000);

  it('explains a config file it cannot read, and a bad key', async () => {
    const { env, dataDir } = await devEnvironment();
    await expectOneLineFailure({ ...env, PALYRA_CONFIG: dataDir }, /cannot read config file .* \(EISDIR\)/);
    const bad = path.join(dataDir, 'bad.yaml');
    fs.writeFileSync(bad, 'server:\n  bodyLimitBytes: "big"\n');
    await expectOneLineFailure({ ...env, PALYRA_CONFIG: bad }, /server\.bodyLimitBytes: Invalid input: expected number/);
  }, 60_000);
});
