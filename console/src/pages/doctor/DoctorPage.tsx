import { useEffect, useState } from 'react';
import { ApiError } from '../../api/client';
import { endpoints } from '../../api/endpoints';
import type { DoctorJob, DoctorJobRequest, DoctorReport } from '../../api/types';
import { Chip } from '../../components/Chip';
import { ConfirmAction } from '../../components/ConfirmAction';
import { DataView, Empty } from '../../components/DataView';
import { JsonView } from '../../components/JsonView';
import { PageTitle } from '../../components/Layout';
import { ago, dateTime, words } from '../../format';
import { useResource } from '../../hooks/useResource';
import { useTitle } from '../../hooks/useTitle';
import { setQuery, useLocation } from '../../router';
import { useCan } from '../../session';
import { DoctorJobList } from './DoctorJobList';
import { RollbackActions, RollbackForm, RollbackReport, rollbackCommands, type StartRollback } from './Rollback';

interface RollbackStarters {
  onPreview?: StartRollback | undefined;
  onApply?: StartRollback | undefined;
}

function Checks({ report }: { report: DoctorReport }) {
  const passed = report.checks.filter((check) => check.status === 'ok').length;
  return (
    <>
      <p>
        <Chip value={report.status} /> {passed} of {report.checks.length} checks passed.
      </p>
      <div className="table-wrap">
        <table>
          <caption className="visually-hidden">Checks</caption>
          <thead>
            <tr>
              <th scope="col">Check</th>
              <th scope="col">Status</th>
              <th scope="col">Detail</th>
              <th scope="col">Hint</th>
            </tr>
          </thead>
          <tbody>
            {report.checks.map((check) => (
              <tr key={check.id}>
                <td>
                  {check.title}
                  <span className="sub">
                    <code>{check.id}</code>
                  </span>
                </td>
                <td>
                  <Chip value={check.status} />
                </td>
                <td>{check.detail}</td>
                <td>
                  {check.hint ?? ''}
                  {check.repair ? <span className="sub">repair: {check.repair}</span> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function Plan({ report, onApply }: { report: DoctorReport; onApply?: (hash: string) => Promise<unknown> }) {
  const plan = report.plan;
  if (!plan) return null;
  return (
    <section className="card" aria-labelledby="doctor-plan">
      <h2 id="doctor-plan">Repair plan</h2>
      <p>
        Plan hash <code data-testid="plan-hash">{plan.hash}</code>
      </p>
      {plan.steps.length === 0 ? (
        <Empty>Nothing to repair: the plan is empty.</Empty>
      ) : (
        <ol className="plan">
          {plan.steps.map((step, i) => (
            <li key={`${step.repair}-${i}`}>
              <strong>{step.title}</strong> (<code>{step.repair}</code>){step.risky ? <Chip value="high" label="risky" /> : null}
              <div className="sub">
                touches {step.touches}; blast radius: {step.blastRadius}
              </div>
            </li>
          ))}
        </ol>
      )}
      {onApply && plan.steps.length > 0 ? (
        <ConfirmAction
          label="Apply this plan"
          title="Apply the repair plan?"
          description={
            <p>
              Applies exactly the plan <code>{plan.hash}</code> (refused if the installation changed since) and writes a recovery
              run that a rollback can undo.
            </p>
          }
          tone="danger"
          onConfirm={() => onApply(plan.hash)}
        />
      ) : null}
    </section>
  );
}

function Manifest({ report, rollback }: { report: DoctorReport; rollback: RollbackStarters }) {
  const recovery = report.recovery;
  if (!recovery) return null;
  return (
    <section className="card" aria-labelledby="doctor-manifest">
      <h2 id="doctor-manifest">Recovery run {recovery.runId}</h2>
      {recovery.refused ? <p className="notice notice-error">Refused: {recovery.refused}</p> : null}
      <p className="sub">
        Manifest: <code>{recovery.manifestPath}</code>
      </p>
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Step</th>
              <th scope="col">Change</th>
              <th scope="col">Detail</th>
              <th scope="col">Before / after</th>
            </tr>
          </thead>
          <tbody>
            {recovery.steps.map((applied, i) => (
              <tr key={`${applied.step.repair}-${i}`}>
                <td>{applied.step.title}</td>
                <td>
                  <Chip value={applied.change} />
                </td>
                <td>
                  {applied.detail}
                  {applied.notUndoable ? <span className="sub">cannot be undone: {applied.notUndoable}</span> : null}
                </td>
                <td>
                  <details>
                    <summary>state</summary>
                    <JsonView value={{ before: applied.before, after: applied.after }} label="Before and after" />
                  </details>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h3>Rollback</h3>
      {recovery.runId && recovery.steps.length > 0 && !recovery.refused ? (
        <>
          <p>Undoes this run&apos;s changes, last step first; the preview says what each step would do and changes nothing.</p>
          <RollbackActions runId={recovery.runId} {...rollback} />
          <details className="sub">
            <summary>From the command line on the API&apos;s host</summary>
            <pre className="output">{rollbackCommands(recovery.runId)}</pre>
          </details>
        </>
      ) : (
        <p className="sub">Nothing was changed, so there is nothing to roll back.</p>
      )}
    </section>
  );
}

function JobView({
  jobId,
  onApply,
  rollback,
  onFinished,
}: {
  jobId: string;
  onApply?: ((hash: string) => Promise<unknown>) | undefined;
  rollback: RollbackStarters;
  /** Called once the job has finished (a stable function: it is an effect's dependency). */
  onFinished(): Promise<unknown>;
}) {
  const job = useResource(() => endpoints.getDoctorJob(jobId), jobId, { intervalMs: 1_000 });
  const finished = job.data?.state === 'succeeded' || job.data?.state === 'failed';
  useEffect(() => {
    if (finished) void onFinished();
  }, [finished, onFinished]);
  return (
    <DataView resource={job} what="the doctor job">
      {(data: DoctorJob) => (
        <div className="doctor-job" data-state={data.state} data-mode={data.mode}>
          <section className="card" aria-labelledby="doctor-job">
            <h2 id="doctor-job">
              {words(data.mode)} job <Chip value={data.state} />
            </h2>
            <p className="sub">
              Started by {data.requestedBy} {ago(data.createdAt)};{' '}
              {finished ? `finished ${dateTime(data.finishedAt)}` : 'still running…'}
            </p>
            {data.recoveryRunId ? (
              <p className="sub">
                Recovery run <code>{data.recoveryRunId}</code>
              </p>
            ) : null}
            {data.error ? <p className="notice notice-error">{data.error}</p> : null}
            {data.report && !data.report.rollback ? <Checks report={data.report} /> : null}
            {data.report || finished ? null : (
              <p role="status">{data.recoveryRunId ? 'Reading the recovery run…' : 'Running checks…'}</p>
            )}
          </section>
          {data.report ? <Plan report={data.report} {...(onApply ? { onApply } : {})} /> : null}
          {data.report ? <Manifest report={data.report} rollback={rollback} /> : null}
          {data.report ? <RollbackReport report={data.report} onApply={rollback.onApply} /> : null}
        </div>
      )}
    </DataView>
  );
}

/**
 * Doctor from the console: diagnostics, a repair preview and a rollback preview change nothing; applying a previewed
 * plan or a rollback needs admin.
 */
export function DoctorPage() {
  useTitle('Doctor');
  const canPreview = useCan('runDoctorPreview');
  // One capability for both: `repair_apply` and `rollback_apply` are the doctor job modes refused below admin.
  const canApply = useCan('applyDoctor');
  const { query } = useLocation();
  const jobId = query.get('job') ?? undefined;
  const [error, setError] = useState<string>();
  const jobs = useResource(() => endpoints.listDoctorJobs(), 'doctor-jobs', { intervalMs: 5_000, enabled: canPreview });
  const refreshJobs = jobs.refresh;

  const start = async (request: DoctorJobRequest) => {
    setError(undefined);
    try {
      const job = await endpoints.startDoctorJob(request);
      setQuery({ job: job.jobId }, { push: true });
      void refreshJobs();
    } catch (caught) {
      const message = caught instanceof ApiError ? `${caught.code}: ${caught.message}` : String(caught);
      setError(message);
      throw caught;
    }
  };
  const rollback: RollbackStarters = canPreview
    ? {
        onPreview: (runId) => start({ mode: 'rollback_preview', runId }),
        ...(canApply ? { onApply: (runId: string) => start({ mode: 'rollback_apply', runId }) } : {}),
      }
    : {};

  return (
    <>
      <PageTitle title="Doctor" />
      {canPreview ? (
        <div className="actions">
          <button
            type="button"
            className="button button-primary"
            onClick={() => void start({ mode: 'diagnostics' }).catch(() => undefined)}
          >
            Run diagnostics
          </button>
          <button type="button" className="button" onClick={() => void start({ mode: 'repair_preview' }).catch(() => undefined)}>
            Preview repairs
          </button>
        </div>
      ) : (
        <p className="hint">This token may not start doctor jobs (it needs an all-tenant operator token).</p>
      )}
      {error ? (
        <p className="notice notice-error" role="alert">
          {error}
        </p>
      ) : null}
      {jobId ? (
        <JobView
          key={jobId}
          jobId={jobId}
          onApply={canApply ? (hash: string) => start({ mode: 'repair_apply', planHash: hash }) : undefined}
          rollback={rollback}
          onFinished={refreshJobs}
        />
      ) : (
        <Empty>Start diagnostics, a repair preview or a rollback preview; the report shows here.</Empty>
      )}
      {rollback.onPreview ? <RollbackForm onPreview={rollback.onPreview} onApply={rollback.onApply} /> : null}
      {canPreview ? <DoctorJobList jobs={jobs} {...(jobId ? { currentJobId: jobId } : {})} /> : null}
    </>
  );
}
