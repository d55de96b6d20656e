import { useState } from 'react';
import { endpoints } from '../../api/endpoints';
import {
  diagnosticsSectionNames,
  incidentStates,
  runStates,
  severities,
  type IncidentList,
  type SpendGroupBy,
} from '../../api/types';
import { Chip } from '../../components/Chip';
import { DataView, ErrorView, Loading } from '../../components/DataView';
import { Freshness, PageTitle } from '../../components/Layout';
import { SpendChart } from '../../components/SpendChart';
import { ago, amount, percent, words } from '../../format';
import { useResource } from '../../hooks/useResource';
import { useTitle } from '../../hooks/useTitle';
import { Link } from '../../router';
import { useCan } from '../../session';
import { PolicyWindows } from '../budgets/PolicyWindows';

const unresolved = incidentStates.filter((state) => state !== 'resolved');

/** Every incident not yet resolved (one listing per state: the list is newest first and resolved ones would crowd it). */
async function openIncidents(): Promise<IncidentList['items']> {
  const pages = await Promise.all(unresolved.map((state) => endpoints.listIncidents({ state, limit: 100 })));
  return pages.flatMap((page) => page.items);
}

function startOfTodayUtc(): string {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())).toISOString();
}

function Attention() {
  const canDiagnose = useCan('readDiagnostics');
  const diagnostics = useResource(() => endpoints.diagnostics(), 'attention-diagnostics', {
    intervalMs: 15_000,
    enabled: canDiagnose,
  });
  const incidents = useResource(openIncidents, 'attention-incidents', { intervalMs: 10_000 });
  const usage = useResource(() => endpoints.usage(), 'attention-usage', { intervalMs: 10_000 });
  const canDoctor = useCan('runDoctorPreview');
  const doctor = useResource(() => endpoints.listDoctorJobs(), 'attention-doctor', { intervalMs: 30_000, enabled: canDoctor });

  const items: { key: string; tone: string; text: string; to: string }[] = [];
  for (const name of diagnosticsSectionNames) {
    const section = diagnostics.data?.sections[name];
    if (section && (section.status === 'blocking' || section.status === 'degraded')) {
      items.push({
        key: `diag-${name}`,
        tone: section.status,
        text: `Diagnostics: ${name} is ${section.status} (${section.reasonCodes.join(', ') || 'no reason code'})`,
        to: `/diagnostics#section-${name}`,
      });
    }
  }
  for (const incident of incidents.data ?? []) {
    if (incident.severity === 'high' || incident.severity === 'critical') {
      items.push({
        key: incident.incidentId,
        tone: incident.severity,
        text: `${words(incident.severity)} incident (${words(incident.state)}): ${incident.summary}`,
        to: `/incidents/${incident.incidentId}`,
      });
    }
  }
  for (const window of usage.data?.policies ?? []) {
    if (window.status !== 'ok') {
      items.push({
        key: `policy-${window.policyId}`,
        tone: window.status,
        text: `Policy ${window.policyId} is past its ${window.status === 'hard_limit' ? 'hard' : 'soft'} limit: ${percent(window.utilization)} of ${amount(window.limit, window.metric)} (${window.periodKey})`,
        to: `/budgets#policy-${window.policyId}`,
      });
    }
  }
  // Newest first: the first failed one is the last to have failed, whoever started it.
  const failedDoctor = doctor.data?.items.find((job) => job.state === 'failed' || job.report?.status === 'fail');
  if (failedDoctor) {
    items.push({
      key: `doctor-${failedDoctor.jobId}`,
      tone: 'fail',
      text: `Last failed doctor job: ${words(failedDoctor.mode)} by ${failedDoctor.requestedBy} ${ago(failedDoctor.finishedAt)}${failedDoctor.error ? `: ${failedDoctor.error}` : ''}`,
      to: `/doctor?job=${failedDoctor.jobId}`,
    });
  }
  const loading = incidents.loading || usage.loading || (canDiagnose && diagnostics.loading) || (canDoctor && doctor.loading);
  return (
    <section className="card attention" aria-labelledby="attention">
      <h2 id="attention">Needs attention</h2>
      {incidents.error ? <ErrorView error={incidents.error} what="incidents" /> : null}
      {usage.error ? <ErrorView error={usage.error} what="budget usage" /> : null}
      {diagnostics.error ? <ErrorView error={diagnostics.error} what="diagnostics" /> : null}
      {doctor.error ? <ErrorView error={doctor.error} what="doctor jobs" /> : null}
      {loading && items.length === 0 ? (
        <Loading what="what needs attention" />
      ) : items.length === 0 ? (
        <p className="notice notice-good">
          Nothing needs attention: no blocking or degraded section, no open high or critical incident, no policy past its soft
          limit.
        </p>
      ) : (
        <ul className="attention-list">
          {items.map((item) => (
            <li key={item.key}>
              <Chip value={item.tone} /> <Link to={item.to}>{item.text}</Link>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function HealthChips() {
  const diagnostics = useResource(() => endpoints.diagnostics(), 'health', { intervalMs: 15_000 });
  return (
    <section className="card" aria-labelledby="health">
      <h2 id="health">Health</h2>
      <DataView resource={diagnostics} what="diagnostics">
        {(data) => (
          <ul className="chips" aria-label="Diagnostics sections">
            <li>
              overall <Chip value={data.status} />
            </li>
            {diagnosticsSectionNames.map((name) => (
              <li key={name}>
                <Link to={`/diagnostics#section-${name}`}>{name}</Link> <Chip value={data.sections[name].status} />
              </li>
            ))}
          </ul>
        )}
      </DataView>
    </section>
  );
}

function Spend() {
  const [groupBy, setGroupBy] = useState<SpendGroupBy>('tenant');
  const since30 = new Date(Date.parse(startOfTodayUtc()) - 29 * 86_400_000).toISOString();
  const daily = useResource(() => endpoints.spend({ groupBy, bucket: 'day', since: since30 }), `daily-${groupBy}`, {
    intervalMs: 30_000,
  });
  const hourly = useResource(() => endpoints.spend({ groupBy, bucket: 'hour', since: startOfTodayUtc() }), `hourly-${groupBy}`, {
    intervalMs: 15_000,
  });
  return (
    <section className="card" aria-labelledby="spend">
      <div className="section-head">
        <h2 id="spend">Spend</h2>
        <label className="field inline">
          Group by
          <select value={groupBy} onChange={(e) => setGroupBy(e.target.value as SpendGroupBy)}>
            <option value="tenant">tenant</option>
            <option value="model">model</option>
            <option value="policy">policy</option>
          </select>
        </label>
      </div>
      <div className="two-columns">
        <DataView resource={hourly} what="spend per hour today" isEmpty={(r) => r.series.length === 0} empty="No spend today.">
          {(report) => <SpendChart report={report} title="Today, per hour (UTC)" />}
        </DataView>
        <DataView
          resource={daily}
          what="spend per day"
          isEmpty={(r) => r.series.length === 0}
          empty="No spend in the last 30 days."
        >
          {(report) => <SpendChart report={report} title="Last 30 days, per day (UTC)" />}
        </DataView>
      </div>
    </section>
  );
}

function IncidentsBySeverity() {
  const incidents = useResource(openIncidents, 'by-severity', { intervalMs: 10_000 });
  return (
    <section className="card" aria-labelledby="incidents-by-severity">
      <h2 id="incidents-by-severity">Open incidents by severity</h2>
      <DataView resource={incidents} what="incidents">
        {(items) => (
          <ul className="counts">
            {[...severities].reverse().map((severity) => (
              <li key={severity}>
                <Link to={`/incidents?severity=${severity}`}>
                  <Chip value={severity} /> <strong>{items.filter((i) => i.severity === severity).length}</strong>
                </Link>
              </li>
            ))}
          </ul>
        )}
      </DataView>
    </section>
  );
}

function RunsByState() {
  const runs = useResource(() => endpoints.listRuns({ limit: 200 }), 'by-state', { intervalMs: 10_000 });
  return (
    <section className="card" aria-labelledby="runs-by-state">
      <h2 id="runs-by-state">Runs by state</h2>
      <DataView resource={runs} what="runs" isEmpty={(list) => list.items.length === 0} empty="No runs yet.">
        {(list) => (
          <>
            <ul className="counts">
              {runStates.map((state) => (
                <li key={state}>
                  <Link to={`/runs?state=${state}`}>
                    <Chip value={state} /> <strong>{list.items.filter((run) => run.state === state).length}</strong>
                  </Link>
                </li>
              ))}
            </ul>
            <p className="hint">
              Among the {list.items.length} most recent runs{list.nextCursor ? ' (there are more)' : ''}.
            </p>
          </>
        )}
      </DataView>
    </section>
  );
}

/** What needs attention first, then the installation at a glance; every part refreshes on its own. */
export function OverviewPage() {
  useTitle('Overview');
  const canDiagnose = useCan('readDiagnostics');
  const usage = useResource(() => endpoints.usage(), 'overview-usage', { intervalMs: 10_000 });
  return (
    <>
      <PageTitle title="Overview">
        <Freshness updatedAt={usage.updatedAt} onRefresh={() => void usage.refresh()} />
      </PageTitle>
      <Attention />
      {canDiagnose ? <HealthChips /> : null}
      <section className="card" aria-labelledby="budgets-now">
        <h2 id="budgets-now">Budgets</h2>
        <DataView resource={usage} what="budget usage" isEmpty={(u) => u.policies.length === 0} empty="No budget policies.">
          {(data) => <PolicyWindows windows={data.policies} />}
        </DataView>
      </section>
      <Spend />
      <div className="two-columns">
        <IncidentsBySeverity />
        <RunsByState />
      </div>
    </>
  );
}
