export * from './database';
export * from './migrations';
export * from './repository';
export * from './invariants';
export type { LedgerDatabase } from './schema';
export * from './setup';
export * from './sweeper';
