import { useState } from 'react';
import { endpoints } from '../../api/endpoints';
import { DataView } from '../../components/DataView';
import { Freshness, PageTitle } from '../../components/Layout';
import { ago, shortId, usd, words } from '../../format';
import { useResource } from '../../hooks/useResource';
import { useTitle } from '../../hooks/useTitle';
import { Link, navigate } from '../../router';
import { Chip } from '../../components/Chip';

const openTaskStates = ['queued', 'paused', 'running', 'cancel_requested'] as const;

/**
 * Background tasks live inside their runs: this page lists the recent runs that have tasks (with their
 * counts by state) and opens a task by id; a run's page has the tasks themselves and their actions.
 */
export function TasksPage() {
  useTitle('Tasks');
  const [taskId, setTaskId] = useState('');
  const runs = useResource(() => endpoints.listRuns({ limit: 100 }), 'tasks', { intervalMs: 5_000 });
  return (
    <>
      <PageTitle title="Tasks">
        <Freshness updatedAt={runs.updatedAt} onRefresh={() => void runs.refresh()} />
      </PageTitle>
      <form
        className="filters"
        aria-label="Open a task"
        onSubmit={(event) => {
          event.preventDefault();
          if (taskId.trim()) navigate(`/tasks/${taskId.trim()}`);
        }}
      >
        <label className="field wide">
          Task id
          <input name="taskId" value={taskId} placeholder="<runId>-<n>" onChange={(e) => setTaskId(e.target.value)} />
        </label>
        <div className="filter-buttons">
          <button type="submit" className="button">
            Open task
          </button>
        </div>
      </form>
      <section aria-labelledby="runs-with-tasks">
        <h2 id="runs-with-tasks">Recent runs with background tasks</h2>
        <DataView
          resource={runs}
          what="runs with tasks"
          isEmpty={(list) => !list.items.some((run) => run.backgroundTaskCounts.total > 0)}
          empty="None of the 100 most recent runs has background tasks."
        >
          {(list) => (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Run</th>
                    <th scope="col">Run state</th>
                    <th scope="col">Tenant</th>
                    <th scope="col">Tasks</th>
                    <th scope="col">Open</th>
                    <th scope="col">By state</th>
                    <th scope="col">Tasks cost</th>
                    <th scope="col">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {list.items
                    .filter((run) => run.backgroundTaskCounts.total > 0)
                    .map((run) => {
                      const counts = run.backgroundTaskCounts;
                      const open = openTaskStates.reduce((sum, state) => sum + (counts.byState[state] ?? 0), 0);
                      return (
                        <tr key={run.runId}>
                          <td>
                            <Link to={`/runs/${run.runId}`} aria-label={`Tasks of run ${run.runId}`}>
                              <code>{shortId(run.runId)}</code>
                            </Link>
                          </td>
                          <td>
                            <Chip value={run.state} />
                          </td>
                          <td>{run.tenantId}</td>
                          <td>{counts.total}</td>
                          <td>{open}</td>
                          <td>
                            {Object.entries(counts.byState)
                              .filter(([, n]) => n > 0)
                              .map(([state, n]) => `${words(state)} ${n}`)
                              .join(', ')}
                          </td>
                          <td>{usd(counts.costMicroUsd)}</td>
                          <td>{ago(run.createdAt)}</td>
                        </tr>
                      );
                    })}
                </tbody>
              </table>
            </div>
          )}
        </DataView>
      </section>
    </>
  );
}
