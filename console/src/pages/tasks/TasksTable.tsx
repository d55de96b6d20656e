import type { Task } from '../../api/types';
import { Chip } from '../../components/Chip';
import { Empty } from '../../components/DataView';
import { dateTime, usd, words } from '../../format';
import { Link } from '../../router';
import { useCan } from '../../session';
import { TaskActions } from './taskActions';

/** A run's background tasks, with their actions for a token that may control tasks. */
export function TasksTable({ tasks, onChanged }: { tasks: Task[]; onChanged(): void }) {
  const canControl = useCan('controlTask');
  if (tasks.length === 0) return <Empty>This run has no background tasks.</Empty>;
  return (
    <div className="table-wrap">
      <table className="tasks-table">
        <caption className="visually-hidden">Background tasks</caption>
        <thead>
          <tr>
            <th scope="col">Task</th>
            <th scope="col">Kind</th>
            <th scope="col">State</th>
            <th scope="col">Attempt</th>
            <th scope="col">Model</th>
            <th scope="col">Cost</th>
            <th scope="col">Expires</th>
            {canControl ? <th scope="col">Actions</th> : null}
          </tr>
        </thead>
        <tbody>
          {tasks.map((task) => (
            <tr key={task.taskId} data-task-id={task.taskId} data-state={task.state}>
              <td>
                <Link to={`/tasks/${task.taskId}`} aria-label={`Task ${task.taskId}`}>
                  <code>#{task.taskId.slice(37)}</code>
                </Link>
              </td>
              <td>{words(task.kind)}</td>
              <td>
                <Chip value={task.state} />
                {task.error ? <span className="sub">{task.error.code}</span> : null}
              </td>
              <td>
                {task.attempt} / {task.maxAttempts}
              </td>
              <td>{task.model.selected}</td>
              <td>{usd(task.costMicroUsd)}</td>
              <td>{dateTime(task.expiresAt)}</td>
              {canControl ? (
                <td>
                  <TaskActions task={task} compact onDone={onChanged} />
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
