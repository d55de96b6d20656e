/** Variables the global setup hands to the test files. */
export const testEnv = {
  temporalAddress: 'PALYRA_TEST_TEMPORAL_ADDRESS',
  temporalCliPath: 'PALYRA_TEST_TEMPORAL_CLI',
} as const;
