import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { configSchema, type PalyraConfig } from './schema';

/** Raised for any configuration problem; the message names the file or variable and the key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type EnvValueKind = 'string' | 'port';

/**
 * Environment variables that override config keys (docs/architecture.md, Configuration). Kept as data so the
 * docker-compose test and the README can check their names against this one list.
 */
export const environmentOverrides = [
  { name: 'PALYRA_PORT', path: ['server', 'port'], kind: 'port' },
  { name: 'PALYRA_HOST', path: ['server', 'host'], kind: 'string' },
  { name: 'PALYRA_DATA_DIR', path: ['dataDir'], kind: 'string' },
  { name: 'PALYRA_LOG_LEVEL', path: ['logLevel'], kind: 'string' },
  { name: 'TEMPORAL_ADDRESS', path: ['temporal', 'address'], kind: 'string' },
  { name: 'TEMPORAL_NAMESPACE', path: ['temporal', 'namespace'], kind: 'string' },
  { name: 'PALYRA_TASK_QUEUE', path: ['temporal', 'taskQueue'], kind: 'string' },
  { name: 'PALYRA_TEMPORAL_UI_URL', path: ['temporal', 'uiUrl'], kind: 'string' },
  { name: 'TEMPORAL_CLI_PATH', path: ['temporal', 'cliPath'], kind: 'string' },
  { name: 'PALYRA_DEV_TEMPORAL_PORT', path: ['temporal', 'devServer', 'port'], kind: 'port' },
  { name: 'PALYRA_DEV_TEMPORAL_UI_PORT', path: ['temporal', 'devServer', 'uiPort'], kind: 'port' },
  { name: 'DATABASE_URL', path: ['database', 'url'], kind: 'string' },
] as const satisfies readonly { name: string; path: readonly string[]; kind: EnvValueKind }[];

/** Other variables Palyra reads that are not config keys. */
export const otherEnvironmentVariables = ['PALYRA_CONFIG', 'PALYRA_URL', 'PALYRA_TOKEN'] as const;

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Explicit file; otherwise `PALYRA_CONFIG`, otherwise `./palyra.config.yaml` when present. */
  configPath?: string;
  cwd?: string;
}

export interface LoadedConfig {
  config: PalyraConfig;
  /** The file that was read, if any. */
  source: string | undefined;
}

export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const source = resolveConfigPath(options.configPath ?? env.PALYRA_CONFIG, cwd);
  const fileContent = source === undefined ? {} : readConfigFile(source);

  const merged = withoutNulls(structuredClone(fileContent)) as Record<string, unknown>;
  for (const override of environmentOverrides) {
    const raw = env[override.name];
    if (raw === undefined || raw === '') continue;
    setAtPath(merged, override.path, parseEnvValue(override.name, raw, override.kind));
  }

  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    throw new ConfigError(describeIssues(parsed.error, source, env));
  }
  const config = parsed.data;
  config.dataDir = path.resolve(cwd, config.dataDir);
  return { config, source };
}

function resolveConfigPath(explicit: string | undefined, cwd: string): string | undefined {
  if (explicit !== undefined && explicit !== '') {
    const absolute = path.resolve(cwd, explicit);
    if (!fs.existsSync(absolute)) {
      throw new ConfigError(
        `config file ${absolute} does not exist (from PALYRA_CONFIG or --config); create it or unset PALYRA_CONFIG`,
      );
    }
    return absolute;
  }
  for (const candidate of ['palyra.config.yaml', 'palyra.config.yml', 'palyra.config.json']) {
    const absolute = path.resolve(cwd, candidate);
    if (fs.existsSync(absolute)) return absolute;
  }
  return undefined;
}

function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError(`cannot read config file ${file} (${reason}); check that it exists and is readable`);
  }
  let value: unknown;
  try {
    value = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text, { prettyErrors: true });
  } catch (error) {
    const firstLine = String((error as Error).message).split('\n')[0];
    throw new ConfigError(`config file ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${firstLine}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`config file ${file} must contain a mapping of keys at the top level`);
  }
  return value;
}

/**
 * YAML turns a section whose children are all commented out (`database:`) into null. No key
 * accepts null, so null means "not set" and the default applies.
 */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, child]) => child !== null)
      .map(([key, child]) => [key, withoutNulls(child)]),
  );
}

function parseEnvValue(name: string, raw: string, kind: EnvValueKind): unknown {
  if (kind === 'string') return raw;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1 || value > 65535) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)}: expected a port number between 1 and 65535`);
  }
  return value;
}

function setAtPath(target: Record<string, unknown>, keys: readonly string[], value: unknown): void {
  let node = target;
  keys.slice(0, -1).forEach((key) => {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  });
  node[keys[keys.length - 1] as string] = value;
}

function describeIssues(error: z.ZodError, source: string | undefined, env: NodeJS.ProcessEnv): string {
  const lines = error.issues.map((issue) => {
    const key = issue.path.map(String).join('.') || '(root)';
    const fromEnv = environmentOverrides.find((o) => o.path.join('.') === key && env[o.name] !== undefined && env[o.name] !== '');
    const where = fromEnv ? `${fromEnv.name} (${key})` : key;
    return `${where}: ${issue.message}`;
  });
  const origin = source ? `config file ${source}` : 'configuration';
  return `invalid ${origin}: ${lines.join('; ')}`;
}
