/** Variables the global setup hands to the test files. */
export const testEnv = {
  temporalAddress: 'PALYRA_TEST_TEMPORAL_ADDRESS',
  temporalCliPath: 'PALYRA_TEST_TEMPORAL_CLI',
  /** Set by CI (the run fails when the server is unreachable); otherwise the default is probed. */
  postgresUrl: 'PALYRA_TEST_POSTGRES_URL',
} as const;
