/**
 * The baseline of `npm run bench -- runs`: a workflow that runs one no-op activity, bundled for a
 * worker of its own so nothing of it ships with Palyra's workflows.
 */
import { proxyActivities } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '30s' });

export async function baselineWorkflow(): Promise<void> {
  await noop();
}
