import { Client, Connection } from '@temporalio/client';
import { splitAddress } from './dev-server/launch';
import { canConnect } from '../util/net';

export class TemporalUnreachableError extends Error {
  override readonly name = 'TemporalUnreachableError';
}

export interface TemporalTarget {
  address: string;
  namespace: string;
}

/**
 * Connects a client and checks the namespace up front, so a wrong address or namespace is one
 * clear error at start-up instead of hanging requests later.
 */
export async function connectClient(
  target: TemporalTarget,
  timeoutMs = 5_000,
): Promise<{ connection: Connection; client: Client }> {
  await assertReachable(target.address, timeoutMs);
  const connection = await Connection.connect({ address: target.address, connectTimeout: timeoutMs });
  try {
    await assertNamespace(connection, target.namespace);
  } catch (error) {
    await connection.close();
    throw error;
  }
  return { connection, client: new Client({ connection, namespace: target.namespace }) };
}

export async function assertReachable(address: string, timeoutMs: number): Promise<void> {
  const [host, port] = splitAddress(address);
  if (!(await canConnect(Number(port), host, timeoutMs))) {
    throw new TemporalUnreachableError(
      `cannot reach Temporal at ${address}: check TEMPORAL_ADDRESS (host:port of the frontend), ` +
        'or unset it to let `palyra dev` start the embedded dev server',
    );
  }
}

export async function assertNamespace(connection: Connection, namespace: string): Promise<void> {
  try {
    await connection.workflowService.describeNamespace({ namespace });
  } catch (error) {
    throw new TemporalUnreachableError(
      `Temporal namespace '${namespace}' is not usable (${(error as Error).message.split('\n')[0]}): ` +
        'create it with `temporal operator namespace create` or set TEMPORAL_NAMESPACE',
    );
  }
}

/** Link to a workflow execution in the Temporal Web UI. */
export function temporalUiLink(uiUrl: string | undefined, namespace: string, workflowId: string, runId?: string): string | null {
  if (!uiUrl) return null;
  const base = `${uiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${encodeURIComponent(runId)}/history` : base;
}
