export class LedgerNotFoundError extends Error {
  override readonly name = 'LedgerNotFoundError';
}

/** A change the ledger refuses because of what is already there (e.g. editing a config policy). */
export class LedgerConflictError extends Error {
  override readonly name = 'LedgerConflictError';
}
