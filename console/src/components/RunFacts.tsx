/**
 * The facts a run and each of its tasks both carry (their model, their times, why they failed), told the same way
 * on the run's page and the task's.
 */
import { dateTime } from '../format';

export function ModelChoice({ model }: { model: { requested: string | null; selected: string } }) {
  return (
    <>
      {model.selected}
      {model.requested ? ` (requested ${model.requested})` : ''}
    </>
  );
}

export function Lifetime({ times }: { times: { createdAt: string; startedAt?: string; finishedAt?: string } }) {
  return (
    <>
      {dateTime(times.createdAt)} / {dateTime(times.startedAt)} / {dateTime(times.finishedAt)}
    </>
  );
}

export function FailureNotice({ error }: { error: { code: string; message: string } | undefined }) {
  return error ? (
    <p className="notice notice-error">
      <code>{error.code}</code> {error.message}
    </p>
  ) : null;
}
