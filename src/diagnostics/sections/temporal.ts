import type { Connection } from '@temporalio/client';
import { missingSearchAttributes as missingSearchAttributesOf } from '../../temporal/search-attributes';
import type { SectionContext } from '../deps';
import { temporalCall } from '../deps';
import { verdictOf, type Finding } from '../run-section';
import type { SectionVerdict, TemporalFigures } from '../types';

/** A frontend slower than this to answer `getSystemInfo` makes every API call slow (`temporal_slow`). */
export const temporalLatencyLimitMs = 500;

export function temporalAddress(config: SectionContext['deps']['config']): string {
  return config.temporal.address ?? `127.0.0.1:${config.temporal.devServer.port}`;
}

export async function temporalSection(context: SectionContext): Promise<SectionVerdict & TemporalFigures> {
  const { config } = context.deps;
  const namespace = config.temporal.namespace;
  const startedAt = performance.now();
  const info = await temporalCall(context, (client) => client.workflowService.getSystemInfo({}));
  const latencyMs = Math.round(performance.now() - startedAt);
  const findings: Finding[] = [];
  const described = await temporalCall(context, (client) => client.workflowService.describeNamespace({ namespace })).catch(
    (error: Error) => {
      findings.push({
        status: 'blocking',
        code: 'namespace_unavailable',
        hint: `namespace '${namespace}' cannot be described (${error.message.split('\n')[0]}): create it or fix temporal.namespace`,
      });
      return undefined;
    },
  );
  const state = described?.namespaceInfo?.state;
  const namespaceState = state === undefined || state === null ? null : namespaceStateName(Number(state));
  if (namespaceState !== null && namespaceState !== 'registered') {
    findings.push({
      status: 'blocking',
      code: 'namespace_not_registered',
      hint: `namespace '${namespace}' is ${namespaceState}: workflows cannot start in it`,
    });
  }
  const missingSearchAttributes = described
    ? await temporalCall(context, (client) => missingSearchAttributesOf(client.connection as Connection, namespace)).catch(
        () => null,
      )
    : null;
  if (missingSearchAttributes && missingSearchAttributes.length > 0) {
    findings.push({
      status: 'blocking',
      code: 'search_attributes_missing',
      hint: `namespace '${namespace}' lacks ${missingSearchAttributes.join(', ')}: runs and incidents cannot be listed; palyra doctor --repair registers them`,
    });
  }
  if (latencyMs > temporalLatencyLimitMs) {
    findings.push({
      status: 'degraded',
      code: 'temporal_slow',
      hint: `the Temporal frontend took ${latencyMs} ms to answer (limit ${temporalLatencyLimitMs} ms)`,
    });
  }
  return {
    ...verdictOf(findings),
    address: temporalAddress(config),
    namespace,
    reachable: true,
    latencyMs,
    serverVersion: info.serverVersion || null,
    namespaceState,
    missingSearchAttributes,
  };
}

/** temporal.api.enums.v1.NamespaceState: 0 unspecified, 1 registered, 2 deprecated, 3 deleted. */
function namespaceStateName(state: number): string {
  return ['unspecified', 'registered', 'deprecated', 'deleted'][state] ?? `state ${state}`;
}
