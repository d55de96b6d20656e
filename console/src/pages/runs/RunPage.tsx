import { endpoints } from '../../api/endpoints';
import { terminalRunStates, type Run } from '../../api/types';
import { Chip } from '../../components/Chip';
import { ConfirmAction } from '../../components/ConfirmAction';
import { DataView } from '../../components/DataView';
import { Freshness, PageTitle } from '../../components/Layout';
import { FailureNotice, Lifetime, ModelChoice } from '../../components/RunFacts';
import { TemporalLink } from '../../components/TemporalLink';
import { count, dateTime, usd, words } from '../../format';
import { useResource } from '../../hooks/useResource';
import { useTitle } from '../../hooks/useTitle';
import { Link } from '../../router';
import { useCan } from '../../session';
import { TasksTable } from '../tasks/TasksTable';

function Routing({ run }: { run: Run }) {
  const routing = run.routing;
  if (!routing) return <p className="notice notice-empty">No routing decision yet.</p>;
  return (
    <>
      <dl className="facts">
        <dt>Action</dt>
        <dd>
          <Chip value={routing.action} />
        </dd>
        <dt>Mode</dt>
        <dd>
          {words(routing.mode)} (from {routing.modeSource})
        </dd>
        <dt>Task class</dt>
        <dd>{words(routing.taskClass)}</dd>
        <dt>Requested / recommended / selected</dt>
        <dd>
          {routing.requestedModel ?? 'none'} / {routing.recommendedModel ?? 'none'} / <strong>{routing.selectedModel}</strong>
        </dd>
        <dt>Reason codes</dt>
        <dd className="codes">
          {routing.reasonCodes.length
            ? routing.reasonCodes.map((code) => (
                <code key={code} className="code-chip">
                  {code}
                </code>
              ))
            : 'none'}
        </dd>
      </dl>
      {routing.explanations.length ? (
        <ul className="explanations">
          {routing.explanations.map((sentence) => (
            <li key={sentence}>{sentence}</li>
          ))}
        </ul>
      ) : null}
      <div className="table-wrap">
        <table>
          <caption>Candidates</caption>
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Provider</th>
              <th scope="col">Tier</th>
              <th scope="col">Eligible</th>
              <th scope="col">Planned output</th>
              <th scope="col">Estimated cost</th>
            </tr>
          </thead>
          <tbody>
            {routing.candidates.map((candidate) => (
              <tr key={candidate.modelId}>
                <td>
                  {candidate.modelId}
                  {candidate.modelId === routing.selectedModel ? <span className="sub">selected</span> : null}
                </td>
                <td>{candidate.providerId}</td>
                <td>{candidate.tier}</td>
                <td>{candidate.eligible ? 'yes' : `no: ${words(candidate.excludedBecause ?? 'excluded')}`}</td>
                <td>{count(candidate.plannedOutputTokens)}</td>
                <td>{usd(candidate.estimatedCostMicroUsd)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function Admission({ run }: { run: Run }) {
  const admission = run.admission;
  if (!admission) return <p className="notice notice-empty">No budget decision yet.</p>;
  const { estimate } = admission;
  return (
    <>
      <dl className="facts">
        <dt>Decision</dt>
        <dd>
          <Chip value={admission.status} /> on {admission.modelId}
        </dd>
        <dt>Estimate</dt>
        <dd>
          {count(estimate.inputTokens)} input tokens, up to {count(estimate.maxOutputTokens)} output; expected{' '}
          {usd(estimate.expectedMicroUsd)}, at most {usd(estimate.upperMicroUsd)} ({estimate.precision}, prices {estimate.source},
          catalog {estimate.catalogVersion})
        </dd>
        <dt>Reservation</dt>
        <dd>
          <code>{admission.reservationId}</code>: {usd(admission.reservedMicroUsd)} held for {count(admission.maxOutputTokens)}{' '}
          output tokens{admission.clamped ? ' (clamped to what the budget holds)' : ''}
        </dd>
      </dl>
      {admission.refusal ? (
        <p className="notice notice-warn">
          Policy <code>{admission.refusal.policyId}</code> ({words(admission.refusal.action)}, {admission.refusal.window}{' '}
          {admission.refusal.periodKey}): {admission.refusal.message}
        </p>
      ) : null}
    </>
  );
}

function Usage({ run }: { run: Run }) {
  return (
    <dl className="facts">
      <dt>Usage</dt>
      <dd>
        {run.usage
          ? `${count(run.usage.inputTokens)} in / ${count(run.usage.outputTokens)} out${run.usage.estimated ? ' (estimated)' : ''}`
          : '—'}
      </dd>
      <dt>Cost</dt>
      <dd>{usd(run.costMicroUsd)}</dd>
      <dt>Tasks cost</dt>
      <dd>{usd(run.backgroundTasksCostMicroUsd ?? 0)}</dd>
      {run.chargedAttempts?.length ? (
        <>
          <dt>Failed attempts charged</dt>
          <dd>
            {run.chargedAttempts
              .map((a) => `#${a.attempt}: ${a.inputTokens} in / ${a.outputTokens} out (${a.failure})`)
              .join('; ')}
          </dd>
        </>
      ) : null}
    </dl>
  );
}

function RunActions({ run, onDone }: { run: Run; onDone(): void }) {
  const canCancel = useCan('cancelRun');
  const canDecide = useCan('decideApproval');
  const ended = terminalRunStates.includes(run.state);
  return (
    <div className="actions" aria-label="Run actions">
      {canDecide && run.state === 'awaiting_approval' ? (
        <>
          <ConfirmAction
            label="Approve"
            title="Approve this run?"
            description={
              <p>
                The run is admitted past its <code>approval_required</code> policies; the override is recorded in the ledger.
              </p>
            }
            withNote
            onConfirm={(note) => endpoints.decideApproval(run.runId, 'approve', note).then(onDone)}
          />
          <ConfirmAction
            label="Deny"
            title="Deny this run?"
            description={<p>The run ends denied and books nothing.</p>}
            withNote
            tone="danger"
            onConfirm={(note) => endpoints.decideApproval(run.runId, 'deny', note).then(onDone)}
          />
        </>
      ) : null}
      {canCancel && !ended ? (
        <ConfirmAction
          label="Cancel run"
          title="Cancel this run?"
          description={
            <p>
              The provider call stops; the run pays for its prompt and what it streamed, releases the rest of its hold, and its
              running tasks are cancelled too.
            </p>
          }
          tone="danger"
          onConfirm={() => endpoints.cancelRun(run.runId).then(onDone)}
        />
      ) : null}
    </div>
  );
}

/** One run: routing, budget decision, usage, tasks and the operator's actions, refreshed while it is live. */
export function RunPage({ runId }: { runId: string }) {
  useTitle(`Run ${runId.slice(0, 8)}`);
  const run = useResource(() => endpoints.getRun(runId), runId, { intervalMs: 2_000 });
  const after = () => void run.refresh();
  return (
    <>
      <PageTitle title={`Run ${runId}`}>
        <Link to="/runs">All runs</Link>
        <Freshness updatedAt={run.updatedAt} onRefresh={after} />
      </PageTitle>
      <DataView resource={run} what="the run">
        {(data) => (
          <div className="run" data-state={data.state}>
            <div className="run-head">
              <span>
                State: <Chip value={data.state} />
              </span>
              <RunActions run={data} onDone={after} />
            </div>
            <section className="card" aria-labelledby="run-summary">
              <h2 id="run-summary">Summary</h2>
              <dl className="facts">
                <dt>Tenant / principal</dt>
                <dd>
                  {data.tenantId} / {data.principalId}
                </dd>
                <dt>Model</dt>
                <dd>
                  <ModelChoice model={data.model} />
                </dd>
                <dt>Created / started / finished</dt>
                <dd>
                  <Lifetime times={data} />
                </dd>
                <dt>Workflow</dt>
                <dd>
                  <TemporalLink link={data.temporal} />
                </dd>
                {data.approval ? (
                  <>
                    <dt>Approval</dt>
                    <dd>
                      {data.approval.decision === 'approve' ? 'approved' : 'denied'} by {data.approval.decidedBy} at{' '}
                      {dateTime(data.approval.decidedAt)}
                      {data.approval.note ? `: “${data.approval.note}”` : ''}
                    </dd>
                  </>
                ) : null}
              </dl>
              <FailureNotice error={data.error} />
            </section>
            <section className="card" aria-labelledby="run-routing">
              <h2 id="run-routing">Routing</h2>
              <Routing run={data} />
            </section>
            <section className="card" aria-labelledby="run-admission">
              <h2 id="run-admission">Estimate and reservation</h2>
              <Admission run={data} />
            </section>
            <section className="card" aria-labelledby="run-usage">
              <h2 id="run-usage">Usage and cost</h2>
              <Usage run={data} />
            </section>
            <section className="card" aria-labelledby="run-tasks">
              <h2 id="run-tasks">Background tasks</h2>
              <TasksTable tasks={data.backgroundTasks} onChanged={after} />
            </section>
            <section className="card" aria-labelledby="run-output">
              <h2 id="run-output">Output</h2>
              {data.output ? (
                <pre className="output" data-testid="run-output">
                  {data.output}
                </pre>
              ) : (
                <p className="notice notice-empty">No output yet.</p>
              )}
            </section>
          </div>
        )}
      </DataView>
    </>
  );
}
