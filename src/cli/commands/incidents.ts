import { InvalidArgumentError, type Command } from 'commander';
import type { IncidentList, IncidentView } from '../../api/incidents/schemas';
import { detectorNames, incidentStates, severities, type IncidentAction } from '../../domain/self-healing';
import { apiRequest, formatTable, oneOf, target, withApiOptions } from '../api-client';
import { guarded, print, type JsonOption } from '../output';

/** The API's limit on a decision's note, checked before calling it. */
const maxNoteLength = 1_000;

function note(value: string): string {
  if (value.length > maxNoteLength) throw new InvalidArgumentError(`at most ${maxNoteLength} characters`);
  return value;
}

/** How many of the latest history entries `get` shows (the API keeps up to 50). */
const historyShown = 10;

function describeIncident(incident: IncidentView): string {
  const lines = [
    `incident ${incident.incidentId}: ${incident.state}${incident.resolution ? ` (${incident.resolution})` : ''}, ` +
      `${incident.severity} ${incident.detector}`,
    `  ${incident.summary}`,
    `  subject ${incident.subject.kind} ${incident.subject.id}` +
      (incident.tenantId ? `, tenant ${incident.tenantId}` : ', installation-wide') +
      `; seen ${incident.observations} time${incident.observations === 1 ? '' : 's'}, created ${incident.createdAt}, ` +
      `updated ${incident.updatedAt}` +
      (incident.resolvedAt ? `, resolved ${incident.resolvedAt}` : ''),
  ];
  const remediation = incident.remediation;
  if (remediation) {
    const approval = remediation.requiresApproval
      ? 'needs approval'
      : remediation.autoExecutable
        ? 'runs automatically'
        : 'waits for approval in this mode';
    lines.push(`  remediation ${remediation.id}: ${remediation.label} (${remediation.risk} risk, ${approval})`);
    lines.push(`    touches ${remediation.blastRadius}`);
  }
  for (const attempt of incident.attempts) {
    lines.push(`  attempt ${attempt.at} ${attempt.remediationId} ${attempt.status} by ${attempt.by}: ${attempt.detail}`);
  }
  const history = incident.history.slice(-historyShown);
  if (history.length > 0) {
    lines.push(`  history${incident.history.length > history.length ? ` (latest ${history.length})` : ''}:`);
    for (const entry of history) {
      lines.push(`    ${entry.at} ${entry.kind}${entry.by ? ` by ${entry.by}` : ''}: ${entry.detail}`);
    }
  }
  lines.push(
    incident.temporal.uiUrl
      ? `  Temporal UI: ${incident.temporal.uiUrl}`
      : `  Temporal workflow: ${incident.temporal.workflowId}`,
  );
  return lines.join('\n');
}

const incidentPath = (incidentId: string) => `/v1/incidents/${encodeURIComponent(incidentId)}`;

export function registerIncidentsCommand(program: Command): void {
  const incidents = program
    .command('incidents')
    .description('self-healing incidents: list, inspect, approve, reject, retry, resolve (through the HTTP API)');

  withApiOptions(
    incidents
      .command('list')
      .description('list incidents, newest first')
      .option('--state <state>', incidentStates.join(' | '), oneOf(incidentStates))
      .option('--detector <detector>', detectorNames.join(' | '), oneOf(detectorNames))
      .option('--severity <severity>', severities.join(' | '), oneOf(severities))
      .option('--limit <n>', 'page size, 1..100 (default 20)')
      .option('--cursor <cursor>', 'nextCursor of the previous page'),
  ).action(
    guarded(
      async (options: JsonOption & { state?: string; detector?: string; severity?: string; limit?: string; cursor?: string }) => {
        const query = new URLSearchParams();
        for (const key of ['state', 'detector', 'severity', 'limit', 'cursor'] as const) {
          const value = options[key];
          if (value) query.set(key, value);
        }
        const page = await apiRequest<IncidentList>(target(options), 'GET', `/v1/incidents?${query}`);
        print(options, page, () => {
          const rows = page.items.map((i) => [
            i.incidentId,
            i.state,
            i.severity,
            i.detector,
            `${i.subject.kind} ${i.subject.id}`,
            i.tenantId,
            i.updatedAt,
          ]);
          const table = formatTable(['INCIDENT', 'STATE', 'SEVERITY', 'DETECTOR', 'SUBJECT', 'TENANT', 'UPDATED'], rows);
          return page.nextCursor ? `${table}\nmore: --cursor ${page.nextCursor}` : table;
        });
      },
    ),
  );

  withApiOptions(
    incidents
      .command('get <incidentId>')
      .description('show an incident: summary, subject, remediation, attempts, recent history, Temporal link'),
  ).action(
    guarded(async (incidentId: string, options: JsonOption) => {
      const incident = await apiRequest<IncidentView>(target(options), 'GET', incidentPath(incidentId));
      print(options, incident, () => describeIncident(incident));
    }),
  );

  const actions: [IncidentAction, string][] = [
    ['approve', 'approve the remediation of an incident awaiting approval: the incident runs it'],
    ['reject', 'reject the remediation of an open or awaiting incident: it resolves with nothing done'],
    ['retry', 'offer the remediation of a failed incident again (it then awaits approval)'],
    ['resolve', 'resolve an open, awaiting or failed incident by hand'],
  ];
  for (const [action, description] of actions) {
    withApiOptions(
      incidents
        .command(`${action} <incidentId>`)
        .description(description)
        .option('--note <text>', `why, kept in the incident's history (at most ${maxNoteLength} characters)`, note),
    ).action(
      guarded(async (incidentId: string, options: JsonOption & { note?: string }) => {
        const incident = await apiRequest<IncidentView>(target(options), 'POST', `${incidentPath(incidentId)}/actions`, {
          action,
          ...(options.note !== undefined ? { note: options.note } : {}),
        });
        print(
          options,
          incident,
          () => `incident ${incident.incidentId}: ${incident.state}${incident.resolution ? ` (${incident.resolution})` : ''}`,
        );
      }),
    );
  }
}
