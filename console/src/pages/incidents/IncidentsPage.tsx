import { endpoints } from '../../api/endpoints';
import { detectorNames, incidentStates, severities } from '../../api/types';
import { Chip } from '../../components/Chip';
import { ChoiceField } from '../../components/ChoiceField';
import { DataView } from '../../components/DataView';
import { Freshness, PageTitle } from '../../components/Layout';
import { Pager } from '../../components/Pager';
import { ago, dateTime, words } from '../../format';
import { useResource } from '../../hooks/useResource';
import { useTitle } from '../../hooks/useTitle';
import { Link, setQuery, useLocation } from '../../router';

const filters = [
  { key: 'state', label: 'State', values: incidentStates },
  { key: 'detector', label: 'Detector', values: detectorNames },
  { key: 'severity', label: 'Severity', values: severities },
] as const;

/** Incidents newest first, filtered by state, detector and severity (kept in the URL), paged with the API's cursor. */
export function IncidentsPage() {
  useTitle('Incidents');
  const { query } = useLocation();
  const params = {
    state: query.get('state') ?? undefined,
    detector: query.get('detector') ?? undefined,
    severity: query.get('severity') ?? undefined,
    cursor: query.get('cursor') ?? undefined,
    limit: 25,
  };
  const incidents = useResource(() => endpoints.listIncidents(params), JSON.stringify(params), { intervalMs: 5_000 });
  return (
    <>
      <PageTitle title="Incidents">
        <Freshness updatedAt={incidents.updatedAt} onRefresh={() => void incidents.refresh()} />
      </PageTitle>
      <form className="filters" aria-label="Filter incidents" onSubmit={(e) => e.preventDefault()}>
        {filters.map((filter) => (
          <ChoiceField
            key={filter.key}
            label={filter.label}
            name={filter.key}
            value={params[filter.key] ?? ''}
            choices={filter.values}
            onChange={(e) => setQuery({ [filter.key]: e.target.value || undefined, cursor: undefined }, { push: true })}
            any
          />
        ))}
      </form>
      <DataView
        resource={incidents}
        what="incidents"
        isEmpty={(list) => list.items.length === 0}
        empty={params.cursor ? 'No more incidents.' : 'No incidents match these filters.'}
      >
        {(list) => (
          <div className="table-wrap">
            <table>
              <caption className="visually-hidden">Incidents, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Incident</th>
                  <th scope="col">Severity</th>
                  <th scope="col">State</th>
                  <th scope="col">Detector</th>
                  <th scope="col">Tenant</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {list.items.map((incident) => (
                  <tr key={incident.incidentId} data-incident-id={incident.incidentId}>
                    <td>
                      <Link to={`/incidents/${incident.incidentId}`}>{incident.summary}</Link>
                      <span className="sub">
                        <code>{incident.incidentId}</code>
                      </span>
                    </td>
                    <td>
                      <Chip value={incident.severity} />
                    </td>
                    <td>
                      <Chip value={incident.state} />
                    </td>
                    <td>{words(incident.detector)}</td>
                    <td>{incident.tenantId ?? 'installation'}</td>
                    <td title={dateTime(incident.updatedAt)}>{ago(incident.updatedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </DataView>
      <Pager cursor={params.cursor} nextCursor={incidents.data?.nextCursor} />
    </>
  );
}
