import { useEffect } from 'react';
import { endpoints } from '../../api/endpoints';
import { diagnosticsSectionNames, type DiagnosticsSection } from '../../api/types';
import { Chip } from '../../components/Chip';
import { DataView } from '../../components/DataView';
import { JsonView } from '../../components/JsonView';
import { Freshness, PageTitle } from '../../components/Layout';
import { dateTime } from '../../format';
import { useResource } from '../../hooks/useResource';
import { useTitle } from '../../hooks/useTitle';

function SectionCard({ name, section }: { name: string; section: DiagnosticsSection }) {
  const { status, reasonCodes, hints, durationMs, error, ...figures } = section;
  return (
    <article className={`card section-card section-${status}`} id={`section-${name}`} aria-labelledby={`section-title-${name}`}>
      <div className="section-head">
        <h2 id={`section-title-${name}`}>{name}</h2>
        <Chip value={status} />
      </div>
      {reasonCodes.length ? (
        <p className="codes">
          {reasonCodes.map((code) => (
            <code key={code} className="code-chip">
              {code}
            </code>
          ))}
        </p>
      ) : null}
      {error ? <p className="notice notice-error">{error}</p> : null}
      {hints.length ? (
        <ul className="hints">
          {hints.map((hint) => (
            <li key={hint}>{hint}</li>
          ))}
        </ul>
      ) : null}
      <p className="sub">gathered in {durationMs} ms</p>
      <details>
        <summary>Raw JSON</summary>
        <JsonView value={figures} label={`${name} figures`} />
      </details>
    </article>
  );
}

/** One snapshot of the installation per refresh, section by section, secrets already redacted by the API. */
export function DiagnosticsPage() {
  useTitle('Diagnostics');
  const diagnostics = useResource(() => endpoints.diagnostics(), 'diagnostics', { intervalMs: 15_000 });
  // Links from the overview name a section: scroll to it once it is on the page.
  const ready = diagnostics.data !== undefined;
  useEffect(() => {
    if (ready && window.location.hash) document.getElementById(window.location.hash.slice(1))?.scrollIntoView();
  }, [ready]);
  return (
    <>
      <PageTitle title="Diagnostics">
        <Freshness updatedAt={diagnostics.updatedAt} onRefresh={() => void diagnostics.refresh()} />
      </PageTitle>
      <DataView resource={diagnostics} what="diagnostics">
        {(data) => (
          <>
            <p>
              Overall <Chip value={data.status} /> at {dateTime(data.generatedAt)}, gathered in {data.durationMs} ms.
            </p>
            <div className="grid">
              {diagnosticsSectionNames.map((name) => (
                <SectionCard key={name} name={name} section={data.sections[name]} />
              ))}
            </div>
          </>
        )}
      </DataView>
    </>
  );
}
