import { useState } from 'react';
import { endpoints } from '../../api/endpoints';
import { auditActions } from '../../api/types';
import { Chip } from '../../components/Chip';
import { asWritten, ChoiceField } from '../../components/ChoiceField';
import { DataView } from '../../components/DataView';
import { Freshness, PageTitle } from '../../components/Layout';
import { Pager } from '../../components/Pager';
import { dateTime, fromLocalInput } from '../../format';
import { useResource } from '../../hooks/useResource';
import { useTitle } from '../../hooks/useTitle';
import { setQuery, useLocation } from '../../router';
import { useCan } from '../../session';

function Filters({ actor, action }: { actor: string; action: string }) {
  const [draft, setDraft] = useState({ actor, action, since: '' });
  return (
    <form
      className="filters"
      aria-label="Filter the audit log"
      onSubmit={(event) => {
        event.preventDefault();
        setQuery(
          {
            actor: draft.actor.trim() || undefined,
            action: draft.action || undefined,
            since: fromLocalInput(draft.since),
            cursor: undefined,
          },
          { push: true },
        );
      }}
    >
      <label className="field">
        Who (token name)
        <input name="actor" value={draft.actor} onChange={(e) => setDraft({ ...draft, actor: e.target.value })} />
      </label>
      <ChoiceField
        label="Action"
        name="action"
        value={draft.action}
        choices={auditActions}
        onChange={(e) => setDraft({ ...draft, action: e.target.value })}
        any
        show={asWritten}
      />
      <label className="field">
        Since
        <input
          name="since"
          type="datetime-local"
          value={draft.since}
          onChange={(e) => setDraft({ ...draft, since: e.target.value })}
        />
      </label>
      <div className="filter-buttons">
        <button type="submit" className="button button-primary">
          Apply filters
        </button>
      </div>
    </form>
  );
}

/** The audit log of privileged actions, newest first; only an all-tenant admin token may read it. */
export function AuditPage() {
  useTitle('Audit');
  const canRead = useCan('readAudit');
  const { query } = useLocation();
  const params = {
    actor: query.get('actor') ?? undefined,
    action: query.get('action') ?? undefined,
    since: query.get('since') ?? undefined,
    cursor: query.get('cursor') ?? undefined,
    limit: 50,
  };
  const audit = useResource(() => endpoints.listAudit(params), JSON.stringify(params), { intervalMs: 10_000, enabled: canRead });
  if (!canRead) {
    return (
      <>
        <PageTitle title="Audit" />
        <p className="notice notice-muted">Only an all-tenant admin token may read the audit log.</p>
      </>
    );
  }
  return (
    <>
      <PageTitle title="Audit">
        <Freshness updatedAt={audit.updatedAt} onRefresh={() => void audit.refresh()} />
      </PageTitle>
      <Filters key={`${params.actor}-${params.action}`} actor={params.actor ?? ''} action={params.action ?? ''} />
      {params.since ? <p className="hint">Since {dateTime(params.since)}.</p> : null}
      <DataView resource={audit} what="audit entries" isEmpty={(list) => list.items.length === 0} empty="No audit entries match.">
        {(list) => (
          <div className="table-wrap">
            <table>
              <caption className="visually-hidden">Audit log, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Who</th>
                  <th scope="col">Action</th>
                  <th scope="col">Target</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Detail</th>
                </tr>
              </thead>
              <tbody>
                {list.items.map((entry) => (
                  <tr key={entry.id} data-action={entry.action}>
                    <td>{dateTime(entry.at)}</td>
                    <td>
                      {entry.actor}
                      <span className="sub">{entry.role}</span>
                    </td>
                    <td>
                      <code>{entry.action}</code>
                    </td>
                    <td>
                      {entry.target ?? '—'}
                      {entry.tenantId ? <span className="sub">tenant {entry.tenantId}</span> : null}
                    </td>
                    <td>
                      <Chip value={entry.outcome} label={`${entry.outcome} ${entry.status}`} />
                      {entry.errorCode ? <span className="sub">{entry.errorCode}</span> : null}
                    </td>
                    <td>
                      {entry.detail
                        ? Object.entries(entry.detail)
                            .map(([key, value]) => `${key} ${typeof value === 'string' ? value : JSON.stringify(value)}`)
                            .join(', ')
                        : '—'}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </DataView>
      <Pager cursor={params.cursor} nextCursor={audit.data?.nextCursor} />
    </>
  );
}
