import { endpoints } from '../../api/endpoints';
import { Chip } from '../../components/Chip';
import { DataView } from '../../components/DataView';
import { Freshness, PageTitle } from '../../components/Layout';
import { FailureNotice, Lifetime, ModelChoice } from '../../components/RunFacts';
import { TemporalLink } from '../../components/TemporalLink';
import { dateTime, usd, words } from '../../format';
import { useResource } from '../../hooks/useResource';
import { useTitle } from '../../hooks/useTitle';
import { Link } from '../../router';
import { useCan } from '../../session';
import { TaskActions } from './taskActions';

/** One background task, read live from its child workflow, with its actions and why an action is not possible now. */
export function TaskPage({ taskId }: { taskId: string }) {
  useTitle(`Task ${taskId.slice(37)}`);
  const canControl = useCan('controlTask');
  const task = useResource(() => endpoints.getTask(taskId), taskId, { intervalMs: 2_000 });
  const runId = taskId.slice(0, 36);
  return (
    <>
      <PageTitle title={`Task ${taskId}`}>
        <Link to={`/runs/${runId}`}>Its run</Link>
        <Freshness updatedAt={task.updatedAt} onRefresh={() => void task.refresh()} />
      </PageTitle>
      <DataView resource={task} what="the task">
        {(data) => (
          <>
            <div className="run-head">
              <span>
                State: <Chip value={data.state} />
              </span>
            </div>
            {canControl ? <TaskActions task={data} onDone={() => void task.refresh()} /> : null}
            <section className="card" aria-labelledby="task-facts">
              <h2 id="task-facts">Task</h2>
              <dl className="facts">
                <dt>Kind / priority</dt>
                <dd>
                  {words(data.kind)} / {data.priority}
                </dd>
                <dt>Attempt</dt>
                <dd>
                  {data.attempt} of {data.maxAttempts}, started {data.dispatches} time(s)
                </dd>
                <dt>Model</dt>
                <dd>
                  <ModelChoice model={data.model} />
                </dd>
                <dt>Cost</dt>
                <dd>{usd(data.costMicroUsd)}</dd>
                <dt>Not before / expires</dt>
                <dd>
                  {dateTime(data.notBefore)} / {dateTime(data.expiresAt)}
                </dd>
                <dt>Created / started / finished</dt>
                <dd>
                  <Lifetime times={data} />
                </dd>
                <dt>Workflow</dt>
                <dd>
                  <TemporalLink link={data.temporal} />
                </dd>
              </dl>
              <FailureNotice error={data.error} />
              {data.result ? <pre className="output">{data.result}</pre> : null}
            </section>
          </>
        )}
      </DataView>
    </>
  );
}
