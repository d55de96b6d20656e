/**
 * The closed set of ApplicationFailure types.
 * Part of the contracts (see index.ts): bundled into workflow code, so no Node built-ins or I/O.
 */

export const failureTypes = {
  providerUnavailable: 'ProviderUnavailable',
  providerRateLimited: 'ProviderRateLimited',
  providerStreamCut: 'ProviderStreamCut',
  providerStreamStalled: 'ProviderStreamStalled',
  providerRejected: 'ProviderRejected',
  unknownProvider: 'UnknownProvider',
  unknownPrice: 'UnknownPrice',
  /** A retry that the budget can no longer cover: the run stops, having paid what it streamed. */
  budgetExceeded: 'BudgetExceeded',
  /** The run's hold was no longer pending when an attempt was about to start (it expired). */
  holdLost: 'HoldLost',
} as const;
export type FailureType = (typeof failureTypes)[keyof typeof failureTypes];

/** Failures that retrying cannot fix. */
export const nonRetryableFailureTypes: FailureType[] = [
  failureTypes.providerRejected,
  failureTypes.unknownProvider,
  failureTypes.unknownPrice,
  failureTypes.budgetExceeded,
  failureTypes.holdLost,
];
