import { endpoints } from '../../api/endpoints';
import type { Incident, IncidentAction, IncidentState } from '../../api/types';
import { Chip } from '../../components/Chip';
import { ConfirmAction } from '../../components/ConfirmAction';
import { DataView, Empty } from '../../components/DataView';
import { JsonView } from '../../components/JsonView';
import { Freshness, PageTitle } from '../../components/Layout';
import { TemporalLink } from '../../components/TemporalLink';
import { dateTime, words } from '../../format';
import { useResource } from '../../hooks/useResource';
import { useTitle } from '../../hooks/useTitle';
import { Link } from '../../router';
import { useCan } from '../../session';

/** Which states each decision may be taken from: the same rules as the incident workflow's. */
const legalFrom: Record<IncidentAction, readonly IncidentState[]> = {
  approve: ['awaiting_approval'],
  reject: ['open', 'awaiting_approval'],
  retry: ['failed'],
  resolve: ['open', 'awaiting_approval', 'failed'],
};

const meaning: Record<IncidentAction, string> = {
  approve: 'Runs the remediation offered now.',
  reject: 'Closes the incident with nothing done; it stays resolved for an hour unless the evidence clears.',
  retry: 'Offers the failed remediation again.',
  resolve: 'Closes the incident by hand; it stays resolved for an hour unless the evidence clears.',
};

function Decisions({ incident, onDone }: { incident: Incident; onDone(): void }) {
  const actions: IncidentAction[] = ['approve', 'reject', 'retry', 'resolve'];
  return (
    <div className="actions" role="group" aria-label="Decisions">
      {actions.map((action) => {
        const legal = legalFrom[action].includes(incident.state);
        return (
          <ConfirmAction
            key={action}
            label={action[0]?.toUpperCase() + action.slice(1)}
            title={`${action[0]?.toUpperCase()}${action.slice(1)} this incident?`}
            description={
              <>
                <p>{meaning[action]}</p>
                {action === 'approve' && incident.remediation ? (
                  <p>
                    {incident.remediation.label}: risk <strong>{incident.remediation.risk}</strong>, touches{' '}
                    {incident.remediation.blastRadius}.
                  </p>
                ) : null}
              </>
            }
            withNote
            tone={action === 'approve' ? 'primary' : action === 'retry' ? 'primary' : 'danger'}
            disabledReason={
              legal
                ? undefined
                : `${action} only from ${legalFrom[action].map(words).join(' or ')}; this incident is ${words(incident.state)}`
            }
            onConfirm={(note) => endpoints.actOnIncident(incident.incidentId, action, note).then(onDone)}
          />
        );
      })}
    </div>
  );
}

/** One incident: its evidence, the remediation offered with its risk and blast radius, attempts, history, and the decisions. */
export function IncidentPage({ incidentId }: { incidentId: string }) {
  useTitle(`Incident ${incidentId}`);
  const canDecide = useCan('decideIncident');
  const incident = useResource(() => endpoints.getIncident(incidentId), incidentId, { intervalMs: 3_000 });
  const refresh = () => void incident.refresh();
  return (
    <>
      <PageTitle title={`Incident ${incidentId}`}>
        <Link to="/incidents">All incidents</Link>
        <Freshness updatedAt={incident.updatedAt} onRefresh={refresh} />
      </PageTitle>
      <DataView resource={incident} what="the incident">
        {(data) => (
          <div data-state={data.state} className="incident">
            <p className="lead">{data.summary}</p>
            <div className="run-head">
              <span>
                State: <Chip value={data.state} /> Severity: <Chip value={data.severity} />
              </span>
            </div>
            {canDecide ? <Decisions incident={data} onDone={refresh} /> : null}
            <section className="card" aria-labelledby="incident-facts">
              <h2 id="incident-facts">Incident</h2>
              <dl className="facts">
                <dt>Detector</dt>
                <dd>{words(data.detector)}</dd>
                <dt>Subject</dt>
                <dd>
                  {data.subject.kind}{' '}
                  {data.subject.kind === 'run' ? (
                    <Link to={`/runs/${data.subject.id}`}>{data.subject.id}</Link>
                  ) : (
                    <code>{data.subject.id}</code>
                  )}
                </dd>
                <dt>Tenant</dt>
                <dd>{data.tenantId ?? 'installation-wide'}</dd>
                <dt>Seen</dt>
                <dd>
                  {data.observations} time(s), first {dateTime(data.createdAt)}, last update {dateTime(data.updatedAt)}
                </dd>
                {data.resolvedAt ? (
                  <>
                    <dt>Resolved</dt>
                    <dd>
                      {dateTime(data.resolvedAt)} ({words(data.resolution ?? 'resolved')})
                    </dd>
                  </>
                ) : null}
                <dt>Workflow</dt>
                <dd>
                  <TemporalLink link={data.temporal} />
                </dd>
              </dl>
            </section>
            <section className="card" aria-labelledby="incident-remediation">
              <h2 id="incident-remediation">Remediation offered</h2>
              {data.remediation ? (
                <dl className="facts">
                  <dt>Action</dt>
                  <dd>
                    {data.remediation.label} (<code>{data.remediation.id}</code>)
                  </dd>
                  <dt>Risk</dt>
                  <dd>
                    <Chip value={data.remediation.risk} />
                  </dd>
                  <dt>Blast radius</dt>
                  <dd>{data.remediation.blastRadius}</dd>
                  <dt>Needs approval</dt>
                  <dd>
                    {data.remediation.requiresApproval ? 'yes, always' : 'no'}
                    {data.remediation.autoExecutable ? '; runs unattended in this mode' : '; waits for a person in this mode'}
                  </dd>
                  <dt>Target</dt>
                  <dd>
                    {Object.entries(data.remediation.target)
                      .map(([key, value]) => `${key} ${value}`)
                      .join(', ')}
                  </dd>
                </dl>
              ) : (
                <Empty>No remediation is offered for this incident.</Empty>
              )}
            </section>
            <section className="card" aria-labelledby="incident-evidence">
              <h2 id="incident-evidence">Evidence</h2>
              <JsonView value={data.evidence} label="Evidence" />
            </section>
            <section className="card" aria-labelledby="incident-attempts">
              <h2 id="incident-attempts">Attempts</h2>
              {data.attempts.length ? (
                <div className="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">At</th>
                        <th scope="col">Remediation</th>
                        <th scope="col">Outcome</th>
                        <th scope="col">By</th>
                        <th scope="col">Detail</th>
                      </tr>
                    </thead>
                    <tbody>
                      {data.attempts.map((attempt) => (
                        <tr key={`${attempt.at}-${attempt.remediationId}`}>
                          <td>{dateTime(attempt.at)}</td>
                          <td>{words(attempt.remediationId)}</td>
                          <td>
                            <Chip value={attempt.status} />
                          </td>
                          <td>{attempt.by}</td>
                          <td>{attempt.detail}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              ) : (
                <Empty>No remediation attempted yet.</Empty>
              )}
            </section>
            <section className="card" aria-labelledby="incident-history">
              <h2 id="incident-history">History</h2>
              {data.history.length ? (
                <ol className="history">
                  {data.history.map((entry, i) => (
                    <li key={`${entry.at}-${i}`}>
                      <span className="sub">{dateTime(entry.at)}</span> <strong>{words(entry.kind)}</strong>
                      {entry.by ? ` by ${entry.by}` : ''}: {entry.detail}
                    </li>
                  ))}
                </ol>
              ) : (
                <Empty>No history yet.</Empty>
              )}
            </section>
          </div>
        )}
      </DataView>
    </>
  );
}
