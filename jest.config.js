/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(ts|js)$': [
      '@swc/jest',
      // Inline on purpose: a root .swcrc would also be read by Temporal's workflow bundler.
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' }, sourceMaps: 'inline' },
    ],
  },
  // content-disposition 3 and cookie 2 (under @fastify/static, light-my-request) ship ESM only;
  // Node 20 requires them natively,
  // jest's module loader does not, so they are compiled to CommonJS like our sources.
  transformIgnorePatterns: ['/node_modules/(?!(content-disposition|cookie)/)'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  setupFiles: ['<rootDir>/test/support/quiet-temporal-logs.ts'],
  testTimeout: 60_000,
  // Two cores: integration tests each run a worker; more parallelism only adds contention.
  maxWorkers: 2,
  // Temporal workers keep native handles; a test that fails mid-way must not hang the run.
  forceExit: true,
};
