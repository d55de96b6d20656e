import fs from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig, type PalyraConfig } from '../config';

/** The CLI's thin client commands talk to the HTTP API, never to the ledger or Temporal directly. */
export class ApiClientError extends Error {
  override readonly name = 'ApiClientError';
}

export interface ApiTargetOptions {
  url?: string;
  token?: string;
}

export interface ApiTarget {
  baseUrl: string;
  token: string;
}

/** `--url`, then PALYRA_URL, then the configured host and port; `--token`, then PALYRA_TOKEN, then the generated admin token. */
export function resolveApiTarget(
  options: ApiTargetOptions,
  config: PalyraConfig,
  env: NodeJS.ProcessEnv = process.env,
): ApiTarget {
  const host = config.server.host === '0.0.0.0' ? '127.0.0.1' : config.server.host;
  const baseUrl = (options.url ?? env.PALYRA_URL ?? `http://${host}:${config.server.port}`).replace(/\/$/, '');
  const tokenFile = path.join(config.dataDir, 'admin.token');
  const token =
    options.token ?? env.PALYRA_TOKEN ?? (fs.existsSync(tokenFile) ? fs.readFileSync(tokenFile, 'utf8').trim() : undefined);
  if (!token) {
    throw new ApiClientError(
      `no API token: pass --token, set PALYRA_TOKEN, or start \`palyra dev\` once to generate ${tokenFile}`,
    );
  }
  return { baseUrl, token };
}

export async function apiRequest<T>(target: ApiTarget, method: string, urlPath: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${target.baseUrl}${urlPath}`, {
      method,
      headers: { authorization: `Bearer ${target.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch (error) {
    throw new ApiClientError(
      `cannot reach the Palyra API at ${target.baseUrl} (${(error as Error).message}): is \`palyra dev\` or \`palyra api\` running? Use --url otherwise`,
    );
  }
  const text = await response.text();
  const data = text ? (JSON.parse(text) as unknown) : undefined;
  if (!response.ok) {
    const error = (data as { error?: { code: string; message: string } } | undefined)?.error;
    throw new ApiClientError(`${response.status} ${error?.code ?? response.statusText}: ${error?.message ?? text}`);
  }
  return data as T;
}

/** A plain text table: columns padded to their widest cell. */
export function formatTable(header: string[], rows: (string | number | undefined | null)[][]): string {
  const cells = [header, ...rows.map((row) => row.map((cell) => (cell === undefined || cell === null ? '-' : String(cell))))];
  const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The options every API command takes: where the API is, which token, raw JSON output. */
export function withApiOptions(command: Command): Command {
  return command
    .option('--url <url>', 'Palyra API base URL (default: PALYRA_URL or the configured host and port)')
    .option('--token <token>', 'API token (default: PALYRA_TOKEN or the generated admin token)')
    .option('--json', 'print the raw JSON answer');
}

export function target(options: ApiTargetOptions): ApiTarget {
  return resolveApiTarget(options, loadConfig().config);
}

/** A commander argument parser that accepts one of `values` and names them otherwise. */
export function oneOf(values: readonly string[]) {
  return (value: string) => {
    if (!values.includes(value)) throw new InvalidArgumentError(`expected one of ${values.join(', ')}`);
    return value;
  };
}
