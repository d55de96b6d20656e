import { incidentStates, throttleWindowMs, type IncidentDocument } from '../../domain/self-healing';
import { decideRemediationSlot, maxRecentRemediations, type RemediationLogEntry } from '../../ledger';
import { incidentMemoKey, incidentSearchAttributes } from '../../temporal/contracts';
import { incidentListQuery } from '../../temporal/visibility-query';
import { temporalCall, type SectionContext } from '../deps';
import { verdictOf, type Finding } from '../run-section';
import type { IncidentFigures, SectionVerdict, SelfHealingFigures } from '../types';

export const maxOpenIncidentsListed = 32;
const incidentsDeadlineMarginMs = 300;

export async function selfHealingSection(context: SectionContext): Promise<SectionVerdict & SelfHealingFigures> {
  const { config, ledger } = context.deps;
  const settings = config.selfHealing;
  const findings: Finding[] = [];
  const [incidents, recent] = await Promise.all([
    readOpenIncidents(context).catch((error: Error) => {
      findings.push({
        status: 'degraded',
        code: 'incidents_unreadable',
        hint: `open incidents could not be listed from Temporal visibility: ${error.message.split('\n')[0]}`,
      });
      return null;
    }),
    ledger.recentRemediations({ limit: maxRecentRemediations }),
  ]);

  const gate = gateNow(recent, context.now.getTime(), settings);
  if (gate.circuitBreaker === 'open' || gate.circuitBreaker === 'half_open') {
    findings.push({
      status: 'degraded',
      code: 'remediation_circuit_open',
      hint: `remediations are held back: ${gate.reason}; look at the failed attempts below`,
    });
  } else if (!gate.allowed) {
    findings.push({ status: 'degraded', code: 'remediation_throttled', hint: `remediations wait: ${gate.reason}` });
  }
  const critical = incidents?.items.filter((i) => i.severity === 'critical') ?? [];
  if (critical.length > 0) {
    findings.push({
      status: 'degraded',
      code: 'critical_incidents_open',
      hint: `${critical.length} critical incident(s) open (${critical.map((i) => i.detector).join(', ')}): see GET /v1/incidents`,
    });
  }
  return {
    ...verdictOf(findings),
    mode: settings.mode,
    openIncidents: incidents,
    recentRemediations: recent.map(({ slotId: _slotId, ...entry }) => entry),
    nextRemediation: { allowed: gate.allowed, reason: gate.reason },
    throttle: { maxPerMinute: settings.maxRemediationsPerMinute, claimsLastMinute: gate.claimsLastMinute },
    circuitBreaker: {
      state: gate.circuitBreaker,
      consecutiveFailures: settings.circuitBreaker.consecutiveFailures,
      openMs: settings.circuitBreaker.openMs,
    },
  };
}

/**
 * What the ledger's gate (`decideRemediationSlot`) would decide for a claim now, from the newest
 * attempts: the same rule, read without taking a slot.
 */
export function gateNow(
  recent: readonly RemediationLogEntry[],
  now: number,
  settings: { maxRemediationsPerMinute: number; circuitBreaker: { consecutiveFailures: number; openMs: number } },
) {
  const breaker = settings.circuitBreaker;
  const outcomes = recent
    .filter((entry) => (entry.status === 'succeeded' || entry.status === 'failed') && entry.finishedAt !== null)
    .map((entry) => ({ at: Date.parse(entry.finishedAt as string), status: entry.status as 'succeeded' | 'failed' }));
  const since = now - Math.max(throttleWindowMs, breaker.openMs);
  const claims = recent
    .filter((entry) => entry.status !== 'skipped' && Date.parse(entry.at) > since)
    .map((entry) => ({ at: Date.parse(entry.at), pending: entry.status === 'pending' }));
  const decision = decideRemediationSlot({
    now,
    outcomes,
    claims,
    maxPerMinute: settings.maxRemediationsPerMinute,
    breaker,
  });
  const reason = decision.allowed ? null : decision.reason;
  const circuitBreaker: SelfHealingFigures['circuitBreaker']['state'] = reason?.startsWith('circuit half-open')
    ? 'half_open'
    : reason?.startsWith('circuit open')
      ? 'open'
      : 'closed';
  return {
    allowed: decision.allowed,
    reason,
    circuitBreaker,
    claimsLastMinute: claims.filter((claim) => now - claim.at < throttleWindowMs).length,
  };
}

async function readOpenIncidents(context: SectionContext): Promise<SelfHealingFigures['openIncidents']> {
  const openStates = incidentStates.filter((state) => state !== 'resolved');
  const query = [
    incidentListQuery({}),
    `ExecutionStatus = 'Running'`,
    `${incidentSearchAttributes.state.name} IN (${openStates.map((s) => `'${s}'`).join(', ')})`,
  ].join(' AND ');
  // Gives up a little before the section does, so a Temporal outage leaves the ledger's half standing.
  return temporalCall({ ...context, deadline: context.deadline - incidentsDeadlineMarginMs }, async (client) => {
    const items: IncidentFigures[] = [];
    let truncated = false;
    for await (const execution of client.workflow.list({ query, pageSize: maxOpenIncidentsListed + 1 })) {
      const document = execution.memo?.[incidentMemoKey] as IncidentDocument | undefined;
      if (!document) continue;
      if (items.length >= maxOpenIncidentsListed) {
        truncated = true;
        break;
      }
      items.push({
        incidentId: document.incidentId,
        detector: document.detector,
        severity: document.severity,
        state: document.state,
        summary: document.summary,
        updatedAt: document.updatedAt,
      });
    }
    return { items, truncated };
  });
}
