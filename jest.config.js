/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      // Inline on purpose: a root .swcrc would also be read by Temporal's workflow bundler.
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' }, sourceMaps: 'inline' },
    ],
  },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  setupFiles: ['<rootDir>/test/support/quiet-temporal-logs.ts'],
  testTimeout: 60_000,
  // Two cores: integration tests each run a worker; more parallelism only adds contention.
  maxWorkers: 2,
  // Temporal workers keep native handles; a test that fails mid-way must not hang the run.
  forceExit: true,
};
