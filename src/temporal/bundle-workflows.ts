/**
 * Child-process entry of `bundlePalyraWorkflows` (./worker.ts): bundles the workflows with webpack
 * and writes the bundle, as JSON, to the file named by the first argument. Run apart so that
 * webpack's memory (about 140 MiB that a process never gives back) leaves with this process.
 */
import fs from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { quietBundlerLogger, workflowsPath } from './worker';

const [out] = process.argv.slice(2);
if (!out) {
  process.stderr.write('usage: bundle-workflows <output.json>\n');
  process.exit(2);
}
bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger }).then(
  (bundle) => fs.writeFileSync(out, JSON.stringify(bundle)),
  (error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
