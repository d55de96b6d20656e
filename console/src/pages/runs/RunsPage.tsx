import { useState } from 'react';
import { endpoints, type RunFilters } from '../../api/endpoints';
import { runStates, taskClasses, type RunList } from '../../api/types';
import { ChoiceField } from '../../components/ChoiceField';
import { Chip } from '../../components/Chip';
import { DataView } from '../../components/DataView';
import { Freshness, PageTitle } from '../../components/Layout';
import { Pager } from '../../components/Pager';
import { ago, dateTime, fromLocalInput, shortId, usd, words } from '../../format';
import { useResource } from '../../hooks/useResource';
import { useTitle } from '../../hooks/useTitle';
import { Link, setQuery, useLocation } from '../../router';
import { useCan } from '../../session';
import { StartRunForm } from './StartRunForm';

const filterKeys = ['tenantId', 'state', 'model', 'taskClass', 'since', 'until'] as const;
type FilterKey = (typeof filterKeys)[number];

/** `datetime-local` wants local time without a zone; the URL keeps the ISO instant. */
function toLocalInput(iso: string | undefined): string {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

function FilterForm({ applied }: { applied: Partial<Record<FilterKey, string>> }) {
  const [draft, setDraft] = useState(() => ({
    ...applied,
    since: toLocalInput(applied.since),
    until: toLocalInput(applied.until),
  }));
  const set = (key: FilterKey) => (event: { target: { value: string } }) => setDraft({ ...draft, [key]: event.target.value });
  return (
    <form
      className="filters"
      aria-label="Filter runs"
      onSubmit={(event) => {
        event.preventDefault();
        setQuery(
          {
            ...Object.fromEntries(filterKeys.map((key) => [key, draft[key]?.trim() || undefined])),
            since: fromLocalInput(draft.since ?? ''),
            until: fromLocalInput(draft.until ?? ''),
            cursor: undefined,
          },
          { push: true },
        );
      }}
    >
      <label className="field">
        Tenant
        <input name="tenantId" value={draft.tenantId ?? ''} onChange={set('tenantId')} />
      </label>
      <ChoiceField label="State" name="state" value={draft.state ?? ''} choices={runStates} onChange={set('state')} any />
      <label className="field">
        Model
        <input name="model" value={draft.model ?? ''} onChange={set('model')} />
      </label>
      <ChoiceField
        label="Task class"
        name="taskClass"
        value={draft.taskClass ?? ''}
        choices={taskClasses}
        onChange={set('taskClass')}
        any
      />
      <label className="field">
        Since
        <input name="since" type="datetime-local" value={draft.since ?? ''} onChange={set('since')} />
      </label>
      <label className="field">
        Until
        <input name="until" type="datetime-local" value={draft.until ?? ''} onChange={set('until')} />
      </label>
      <div className="filter-buttons">
        <button type="submit" className="button button-primary">
          Apply filters
        </button>
        <button
          type="button"
          className="button"
          onClick={() => {
            setDraft({ since: '', until: '' });
            setQuery(Object.fromEntries([...filterKeys, 'cursor'].map((key) => [key, undefined])), { push: true });
          }}
        >
          Clear
        </button>
      </div>
    </form>
  );
}

export function RunsTable({ list }: { list: RunList }) {
  return (
    <div className="table-wrap">
      <table className="runs-table">
        <caption className="visually-hidden">Runs, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">State</th>
            <th scope="col">Tenant</th>
            <th scope="col">Model</th>
            <th scope="col">Task class</th>
            <th scope="col">Cost</th>
            <th scope="col">Tasks</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {list.items.map((run) => (
            <tr key={run.runId} data-run-id={run.runId}>
              <td>
                <Link to={`/runs/${run.runId}`} aria-label={`Run ${run.runId}`}>
                  <code>{shortId(run.runId)}</code>
                </Link>
              </td>
              <td>
                <Chip value={run.state} />
              </td>
              <td>
                {run.tenantId}
                <span className="sub">{run.principalId}</span>
              </td>
              <td>{run.model.selected}</td>
              <td>{run.routing ? words(run.routing.taskClass) : '—'}</td>
              <td>{usd(run.costMicroUsd)}</td>
              <td>{run.backgroundTaskCounts.total || '—'}</td>
              <td title={dateTime(run.createdAt)}>{ago(run.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Runs from Temporal visibility, filtered and paged through the URL so a refresh or reload keeps the place. */
export function RunsPage() {
  useTitle('Runs');
  const { query } = useLocation();
  const canStart = useCan('startRun');
  const applied = Object.fromEntries(filterKeys.map((key) => [key, query.get(key) ?? undefined])) as Partial<
    Record<FilterKey, string>
  >;
  const cursor = query.get('cursor') ?? undefined;
  const filters: RunFilters = { ...applied, limit: 25, ...(cursor ? { cursor } : {}) };
  const key = JSON.stringify(filters);
  const runs = useResource(() => endpoints.listRuns(filters), key, { intervalMs: 5_000 });

  return (
    <>
      <PageTitle title="Runs">
        <Freshness updatedAt={runs.updatedAt} onRefresh={() => void runs.refresh()} />
      </PageTitle>
      {canStart ? <StartRunForm /> : null}
      <section aria-labelledby="runs-list">
        <h2 id="runs-list">Runs</h2>
        <FilterForm key={JSON.stringify(applied)} applied={applied} />
        <DataView
          resource={runs}
          what="runs"
          isEmpty={(list) => list.items.length === 0}
          empty={cursor ? 'No more runs.' : 'No runs match these filters.'}
        >
          {(list) => <RunsTable list={list} />}
        </DataView>
        <Pager cursor={cursor} nextCursor={runs.data?.nextCursor} />
      </section>
    </>
  );
}
