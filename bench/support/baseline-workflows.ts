/**
 * The baselines of the end-to-end benchmarks, bundled for a worker of their own so nothing of them
 * ships with Palyra's workflows: a workflow that runs one no-op activity, and a parent that runs
 * such workflows as children, a given number at once.
 */
import { executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '30s' });

export async function baselineWorkflow(): Promise<void> {
  await noop();
}

export async function baselineFanOut({ children, concurrency }: { children: number; concurrency: number }): Promise<void> {
  let next = 0;
  const { workflowId } = workflowInfo();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < children) {
        const index = next++;
        await executeChild(baselineWorkflow, { workflowId: `${workflowId}-child-${index}` });
      }
    }),
  );
}
