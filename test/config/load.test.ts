import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';
import { defaultSelfHealingSettings, detectorModeOf } from '../../src/domain/self-healing';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'palyra-config-'));
}

function writeConfig(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

describe('loadConfig', () => {
  it('gives a working development setup with no file and no variables', () => {
    const cwd = tempDir();
    const { config, source } = loadConfig({ env: {}, cwd });
    expect(source).toBeUndefined();
    expect(config.server.port).toBe(8080);
    expect(config.dataDir).toBe(path.join(cwd, '.palyra'));
    expect(config.temporal).toMatchObject({ namespace: 'default', taskQueue: 'palyra', devServer: { port: 7233, uiPort: 8233 } });
    expect(config.temporal.address).toBeUndefined();
    expect(config.routing.defaultModel).toBe('sim-standard');
    expect(config.providers.map((p) => p.kind)).toEqual(['simulated']);
    // The built-in models get every default of a configured one (a JSON-mode request reads
    // capabilities.json; the defaults were once taken as written and lacked it).
    for (const model of config.models) {
      expect(model).toMatchObject({ capabilities: { json: true }, contextWindow: expect.any(Number) });
    }
  });

  it('reads ./palyra.config.yaml when present and lets environment variables override it', () => {
    const cwd = tempDir();
    writeConfig(cwd, 'palyra.config.yaml', 'server:\n  port: 9000\ntemporal:\n  namespace: from-file\n');
    const { config, source } = loadConfig({
      env: {
        PALYRA_PORT: '9100',
        TEMPORAL_ADDRESS: 'temporal.internal:7233',
        PALYRA_TASK_QUEUE: 'q1',
        DATABASE_URL: 'postgres://x/y',
      },
      cwd,
    });
    expect(source).toBe(path.join(cwd, 'palyra.config.yaml'));
    expect(config.server.port).toBe(9100);
    expect(config.temporal.namespace).toBe('from-file');
    expect(config.temporal.address).toBe('temporal.internal:7233');
    expect(config.temporal.taskQueue).toBe('q1');
    expect(config.database.url).toBe('postgres://x/y');
  });

  it('reads the file named by PALYRA_CONFIG, JSON included', () => {
    const cwd = tempDir();
    const file = writeConfig(cwd, 'custom.json', JSON.stringify({ temporal: { taskQueue: 'json-queue' } }));
    expect(loadConfig({ env: { PALYRA_CONFIG: file }, cwd }).config.temporal.taskQueue).toBe('json-queue');
  });

  it.each([
    ['a port out of range', 'server:\n  port: 70000\n', /server\.port: .*65535/],
    ['an unknown key', 'sever:\n  port: 1\n', /sever/],
    [
      'a model on an unknown provider',
      'models:\n  - id: m1\n    provider: nope\n',
      /models\.0\.provider: unknown provider 'nope'/,
    ],
    ['an unknown default model', 'routing:\n  defaultModel: gpt-9\n', /routing\.defaultModel: unknown model 'gpt-9'/],
    [
      'a token with neither token nor sha256',
      'auth:\n  tokens:\n    - name: a\n      role: admin\n',
      /auth\.tokens\.0: set exactly one/,
    ],
    [
      'an unknown role',
      'auth:\n  tokens:\n    - name: a\n      token: aaaaaaaaaaaaaaaaaaaa\n      role: root\n',
      /auth\.tokens\.0\.role/,
    ],
    [
      'a negative self-healing threshold',
      'selfHealing:\n  detectors:\n    approval_waiting:\n      afterMs: -5\n',
      /selfHealing\.detectors\.approval_waiting\.afterMs/,
    ],
    [
      'an unknown self-healing mode',
      'selfHealing:\n  detectors:\n    stalled_stream:\n      mode: fix_everything\n',
      /selfHealing\.detectors\.stalled_stream\.mode/,
    ],
    ['a misspelt detector', 'selfHealing:\n  detectors:\n    stalled_streams: {}\n', /stalled_streams/],
    [
      'an openai-compatible provider without baseUrl',
      'providers:\n  - id: oa\n    kind: openai-compatible\n',
      /providers\.0\.baseUrl/,
    ],
  ])('rejects %s with an error that names the key', (_case, yaml, expected) => {
    const cwd = tempDir();
    writeConfig(cwd, 'palyra.config.yaml', yaml);
    expect(() => loadConfig({ env: {}, cwd })).toThrow(ConfigError);
    expect(() => loadConfig({ env: {}, cwd })).toThrow(expected);
  });

  it('defaults every self-healing setting and keeps a per-detector mode next to the global one', () => {
    const cwd = tempDir();
    expect(loadConfig({ env: {}, cwd }).config.selfHealing).toEqual(defaultSelfHealingSettings);
    writeConfig(
      cwd,
      'palyra.config.yaml',
      'selfHealing:\n  mode: auto\n  detectors:\n    run_overdue:\n      mode: disabled\n    approval_waiting:\n      afterMs: 5000\n',
    );
    const { selfHealing } = loadConfig({ env: {}, cwd }).config;
    expect(detectorModeOf(selfHealing, 'run_overdue')).toBe('disabled');
    expect(detectorModeOf(selfHealing, 'stalled_stream')).toBe('auto');
    expect(selfHealing.detectors.approval_waiting).toEqual({ afterMs: 5000 });
    expect(selfHealing.detectors.run_overdue.afterMs).toBe(3_600_000);
  });

  it('names the environment variable when an override is bad', () => {
    expect(() => loadConfig({ env: { PALYRA_PORT: 'eighty' }, cwd: tempDir() })).toThrow(
      /PALYRA_PORT="eighty": expected a port number/,
    );
    expect(() => loadConfig({ env: { PALYRA_LOG_LEVEL: 'loud' }, cwd: tempDir() })).toThrow(/PALYRA_LOG_LEVEL \(logLevel\)/);
  });

  it('explains a file that cannot be read or parsed', () => {
    const cwd = tempDir();
    expect(() => loadConfig({ env: { PALYRA_CONFIG: path.join(cwd, 'missing.yaml') }, cwd })).toThrow(/does not exist/);
    const broken = writeConfig(cwd, 'broken.yaml', 'server: [1, 2\n');
    expect(() => loadConfig({ env: { PALYRA_CONFIG: broken }, cwd })).toThrow(/is not valid YAML/);
    const unreadable = writeConfig(cwd, 'unreadable.yaml', 'server: {}\n');
    fs.chmodSync(unreadable, 0o000);
    const runningAsRoot = process.getuid?.() === 0;
    if (!runningAsRoot) expect(() => loadConfig({ env: { PALYRA_CONFIG: unreadable }, cwd })).toThrow(/cannot read config file/);
    const list = writeConfig(cwd, 'list.yaml', '- 1\n- 2\n');
    expect(() => loadConfig({ env: { PALYRA_CONFIG: list }, cwd })).toThrow(/mapping of keys/);
  });

  it('accepts the shipped example config', () => {
    const example = path.resolve(__dirname, '..', '..', 'palyra.config.example.yaml');
    const { config } = loadConfig({ env: { PALYRA_CONFIG: example }, cwd: tempDir() });
    expect(config.models.length).toBeGreaterThan(0);
    // The example shows the defaults, so it must parse to exactly them.
    expect(config.selfHealing).toEqual(defaultSelfHealingSettings);
  });
});
