/** Variables the global setup hands to the test files. */
export const testEnv = {
  temporalAddress: 'PALYRA_TEST_TEMPORAL_ADDRESS',
  temporalCliPath: 'PALYRA_TEST_TEMPORAL_CLI',
  /** Set by CI (the run fails when the server is unreachable); otherwise the default is probed. */
  postgresUrl: 'PALYRA_TEST_POSTGRES_URL',
  /** Tags the PostgreSQL schemas of this run, so parallel runs on one server never drop each other's. */
  schemaRunTag: 'PALYRA_TEST_SCHEMA_RUN_TAG',
} as const;
