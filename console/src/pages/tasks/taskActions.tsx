import { useState } from 'react';
import { endpoints } from '../../api/endpoints';
import type { Task, TaskAction, TaskState } from '../../api/types';
import { ConfirmAction } from '../../components/ConfirmAction';
import { fromLocalInput, words } from '../../format';

/** Which states each action may be taken from: the same table as src/domain/tasks/task-state.ts. */
const legalFrom: Record<TaskAction, readonly TaskState[]> = {
  pause: ['queued'],
  resume: ['paused'],
  retry: ['failed', 'cancelled', 'expired'],
  cancel: ['queued', 'paused', 'running'],
};

const explanations: Record<TaskAction, string> = {
  pause: 'The task stays queued and is not started until it is resumed.',
  resume: 'The task is queued again and starts when a slot is free.',
  retry: 'The task runs again from its first attempt (the attempt count starts again).',
  cancel: 'A queued or paused task ends cancelled at once; a running one is stopped and pays for what it streamed.',
};

export function whyNot(action: TaskAction, state: TaskState): string | undefined {
  const from = legalFrom[action];
  if (from.includes(state)) return undefined;
  return `${action} only from ${from.map(words).join(' or ')}; this task is ${words(state)}`;
}

function inAnHour(): string {
  const date = new Date(Date.now() + 3_600_000);
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function RetryAction({ task, compact, onDone }: { task: Task; compact: boolean; onDone(): void }) {
  const [expiry, setExpiry] = useState(inAnHour);
  return (
    <ConfirmAction
      label="Retry"
      title={`Retry task ${task.taskId}?`}
      description={<p>{explanations.retry}</p>}
      compact={compact}
      disabledReason={whyNot('retry', task.state)}
      extra={
        <label className="field">
          New expiry (empty: no deadline)
          <input type="datetime-local" name="expiresAt" value={expiry} onChange={(e) => setExpiry(e.target.value)} />
        </label>
      }
      onConfirm={() => endpoints.actOnTask(task.taskId, 'retry', fromLocalInput(expiry) ?? null).then(onDone)}
    />
  );
}

/** Pause, resume, retry and cancel, each disabled with the reason when the task's state does not allow it. */
export function TaskActions({ task, compact = false, onDone }: { task: Task; compact?: boolean; onDone(): void }) {
  const simple = (action: Exclude<TaskAction, 'retry'>) => (
    <ConfirmAction
      key={action}
      label={action[0]?.toUpperCase() + action.slice(1)}
      title={`${action[0]?.toUpperCase()}${action.slice(1)} task ${task.taskId}?`}
      description={<p>{explanations[action]}</p>}
      tone={action === 'cancel' ? 'danger' : 'primary'}
      compact={compact}
      disabledReason={whyNot(action, task.state)}
      onConfirm={() => endpoints.actOnTask(task.taskId, action).then(onDone)}
    />
  );
  return (
    <div className="actions" role="group" aria-label={`Actions on task ${task.taskId}`}>
      {simple('pause')}
      {simple('resume')}
      <RetryAction task={task} compact={compact} onDone={onDone} />
      {simple('cancel')}
    </div>
  );
}
