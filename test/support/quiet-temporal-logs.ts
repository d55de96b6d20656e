import { DefaultLogger, Runtime } from '@temporalio/worker';

// Expected workflow failures log at WARN; keep test output to real errors.
Runtime.install({ logger: new DefaultLogger('ERROR') });
