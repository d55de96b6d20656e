import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

/** A workflow's history as the server stores it: its encoded size in bytes and its event count. */
export async function historySize(handle: WorkflowHandle): Promise<{ bytes: number; events: number }> {
  const history = await handle.fetchHistory();
  return { bytes: temporal.api.history.v1.History.encode(history).finish().length, events: history.events?.length ?? 0 };
}
