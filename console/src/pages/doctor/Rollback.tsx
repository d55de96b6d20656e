import { useId, useState } from 'react';
import { recoveryRunIdPattern, type DoctorReport, type RollbackOutcome } from '../../api/types';
import { Chip } from '../../components/Chip';
import { ConfirmAction } from '../../components/ConfirmAction';
import { Empty } from '../../components/DataView';
import { words } from '../../format';

/** Starts a rollback job of a recovery run; rejects with the API's refusal (shown by the caller). */
export type StartRollback = (runId: string) => Promise<unknown>;

/** The same rollback from the CLI on the API's host (which alone may `--force` past a drifted step). */
export function rollbackCommands(runId: string): string {
  return `palyra doctor --rollback-run ${runId} --dry-run   # preview\npalyra doctor --rollback-run ${runId}             # apply`;
}

function ApplyRollback({
  runId,
  label,
  disabledReason,
  onApply,
}: {
  runId: string;
  label: string;
  disabledReason?: string | undefined;
  onApply: StartRollback;
}) {
  return (
    <ConfirmAction
      label={label}
      title={`Roll back recovery run ${runId}?`}
      confirmLabel="Apply rollback"
      description={
        <p>
          Undoes the changes of recovery run <code>{runId}</code>, last step first, and records the rollback in its manifest. A
          step whose target changed since the repair is refused; one that cannot be undone (an expired or settled hold, a
          migration without a down step) stays as it is.
        </p>
      }
      tone="danger"
      disabledReason={disabledReason}
      onConfirm={() => onApply(runId)}
    />
  );
}

/** Preview (operator) and apply (admin, confirmed) the rollback of one recovery run. */
export function RollbackActions({
  runId,
  onPreview,
  onApply,
}: {
  runId: string;
  onPreview?: StartRollback | undefined;
  onApply?: StartRollback | undefined;
}) {
  if (!onPreview && !onApply) return null;
  return (
    <div className="actions">
      {onPreview ? (
        <button type="button" className="button" onClick={() => void onPreview(runId).catch(() => undefined)}>
          Preview rollback
        </button>
      ) : null}
      {onApply ? <ApplyRollback runId={runId} label="Apply rollback" onApply={onApply} /> : null}
    </div>
  );
}

/**
 * A recovery run named by hand: runs written by `palyra doctor --repair` on the host are not jobs of
 * this API, and the jobs it keeps are forgotten on a restart while the runs stay on disk.
 */
export function RollbackForm({ onPreview, onApply }: { onPreview: StartRollback; onApply?: StartRollback | undefined }) {
  const [runId, setRunId] = useState('');
  const ids = { input: useId(), problem: useId() };
  const trimmed = runId.trim();
  const problem =
    trimmed === ''
      ? 'type a recovery run id first'
      : recoveryRunIdPattern.test(trimmed)
        ? undefined
        : 'a recovery run id has only letters, digits, _, . and - (at most 100)';
  return (
    <section className="card" aria-labelledby="doctor-rollback-form">
      <h2 id="doctor-rollback-form">Roll back a recovery run</h2>
      <p className="hint">
        An applied repair writes a recovery run (from this page or <code>palyra doctor --repair</code> on the API&apos;s host),
        named in its report and under <code>&lt;dataDir&gt;/doctor/runs</code>.
      </p>
      <div className="rollback-form">
        <form
          aria-label="Roll back a recovery run"
          className="inline-form"
          onSubmit={(event) => {
            event.preventDefault();
            if (!problem) void onPreview(trimmed).catch(() => undefined);
          }}
        >
          <label htmlFor={ids.input} className="field">
            Recovery run id
            <input
              id={ids.input}
              value={runId}
              maxLength={100}
              spellCheck={false}
              autoComplete="off"
              placeholder="2026-12-01T08-00-00-000Z-abc123"
              aria-invalid={trimmed !== '' && problem !== undefined}
              aria-describedby={trimmed !== '' && problem ? ids.problem : undefined}
              onChange={(event) => setRunId(event.target.value)}
            />
          </label>
          <button type="submit" className="button" disabled={problem !== undefined}>
            Preview rollback
          </button>
        </form>
        {/* Outside the form: the confirmation dialog holds a form of its own. */}
        {onApply ? <ApplyRollback runId={trimmed} label="Apply rollback" disabledReason={problem} onApply={onApply} /> : null}
      </div>
      {trimmed !== '' && problem ? (
        <p id={ids.problem} className="disabled-reason">
          {problem}
        </p>
      ) : null}
    </section>
  );
}

function outcomeSummary(steps: { outcome: RollbackOutcome }[]): string {
  const counts = new Map<RollbackOutcome, number>();
  for (const step of steps) counts.set(step.outcome, (counts.get(step.outcome) ?? 0) + 1);
  return [...counts].map(([outcome, count]) => `${count} ${words(outcome)}`).join(', ');
}

/** A rollback job's report: each step's outcome, last repair first; a preview offers to apply it. */
export function RollbackReport({ report, onApply }: { report: DoctorReport; onApply?: StartRollback | undefined }) {
  const rollback = report.rollback;
  if (!rollback) return null;
  const preview = report.mode === 'rollback_preview';
  const refused = rollback.steps.some((step) => step.outcome === 'refused');
  return (
    <section className="card" aria-labelledby="doctor-rollback">
      <h2 id="doctor-rollback">
        {preview ? 'Rollback preview' : 'Rollback'} of recovery run <code>{rollback.runId}</code>
      </h2>
      {rollback.steps.length === 0 ? (
        <Empty>The recovery run changed nothing: there is nothing to undo.</Empty>
      ) : (
        <>
          <p>
            <Chip value={report.status} /> {outcomeSummary(rollback.steps)}.{' '}
            {preview
              ? 'Nothing has changed yet: this is what applying would do, last step first.'
              : 'Applied last step first and recorded in the recovery run’s manifest.'}
          </p>
          <div className="table-wrap">
            <table>
              <caption className="visually-hidden">Rollback steps</caption>
              <thead>
                <tr>
                  <th scope="col">Step</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Detail</th>
                </tr>
              </thead>
              <tbody>
                {rollback.steps.map((step, i) => (
                  <tr key={`${step.repair}-${i}`} data-outcome={step.outcome}>
                    <td>
                      <code>{step.repair}</code>
                    </td>
                    <td>
                      <Chip value={step.outcome} />
                    </td>
                    <td>{step.detail}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      {refused ? (
        <>
          <p className="hint">
            A refused step&apos;s target changed since the repair, and a job never forces it. To undo it anyway, on the API&apos;s
            host:
          </p>
          <pre className="output">{`palyra doctor --rollback-run ${rollback.runId} --force`}</pre>
        </>
      ) : null}
      {preview && onApply && rollback.steps.length > 0 ? (
        <div className="actions">
          <ApplyRollback runId={rollback.runId} label="Apply this rollback" onApply={onApply} />
        </div>
      ) : null}
    </section>
  );
}
