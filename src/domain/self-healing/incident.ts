import type { Finding, IncidentAction, IncidentDocument, IncidentHistoryEntry, IncidentState, RemediationAttempt } from './types';

/**
 * The incident state machine (issue 11, Incidents), pure functions over `IncidentDocument`:
 *
 *   open ──(remediation not auto: awaitApproval)──> awaiting_approval ──approve──> remediating
 *   open ──(remediation auto: startRemediation)──────────────────────────────────> remediating
 *   remediating ──finishRemediation──> resolved (succeeded) | failed (failed)
 *                                    | open (succeeded, but it does not fix the problem: `page`)
 *                                    | resolved (skipped, evidence cleared)
 *                                    | awaiting_approval or open (skipped by throttle or breaker)
 *   failed ──retry──> awaiting_approval (a person approves the re-run)
 *   open | awaiting_approval ──clearEvidence──> resolved ('evidence_cleared')
 *   open | awaiting_approval ──reject──> resolved ('rejected'), nothing done
 *   open | awaiting_approval | failed ──resolve──> resolved ('resolved_by_sre')
 *
 * `resolved` is the only final state; `failed` waits for a person (retry or resolve). Times are ISO
 * strings, as in the document. Every function returns a new document and leaves its argument alone.
 */

/** Documents travel in memos and continue-as-new inputs: what grows is bounded. */
export const incidentHistoryLimit = 50;
export const incidentAttemptsLimit = 20;

export interface IncidentDecisionInput {
  action: IncidentAction;
  by: string;
  note?: string;
}

export type IncidentStep = 'await_decision' | 'remediate' | 'done' | 'watch';

/** Why a remediation was skipped: the evidence was gone when re-checked, or the throttle or breaker held it. */
export type SkipCause = 'evidence_cleared' | 'gated';

export function isResolvedIncident(doc: Pick<IncidentDocument, 'state'>): boolean {
  return doc.state === 'resolved';
}

function withHistory(doc: IncidentDocument, entry: IncidentHistoryEntry): IncidentDocument {
  return { ...doc, updatedAt: entry.at, history: [...doc.history, entry].slice(-incidentHistoryLimit) };
}

function moved(doc: IncidentDocument, state: IncidentState, at: string, detail: string, by?: string): IncidentDocument {
  return withHistory(
    { ...doc, state },
    { at, kind: 'state', detail: `${doc.state} → ${state}: ${detail}`, ...(by ? { by } : {}) },
  );
}

function resolved(doc: IncidentDocument, resolution: string, at: string, detail: string, by?: string): IncidentDocument {
  return moved({ ...doc, resolution, resolvedAt: at }, 'resolved', at, `${resolution}; ${detail}`, by);
}

function fromFinding(finding: Finding) {
  return {
    severity: finding.severity,
    summary: finding.summary,
    subject: finding.subject,
    evidence: finding.evidence,
    ...(finding.tenantId !== undefined ? { tenantId: finding.tenantId } : {}),
    ...(finding.remediation !== undefined ? { remediation: finding.remediation } : {}),
  };
}

export function openIncident({
  incidentId,
  finding,
  at,
  workflowId,
  uiUrl,
}: {
  incidentId: string;
  finding: Finding;
  at: string;
  workflowId: string;
  uiUrl?: string;
}): IncidentDocument {
  return {
    incidentId,
    detector: finding.detector,
    dedupeKey: finding.dedupeKey,
    state: 'open',
    ...fromFinding(finding),
    attempts: [],
    history: [{ at, kind: 'state', detail: `opened: ${finding.summary}` }],
    observations: 1,
    createdAt: at,
    updatedAt: at,
    temporal: { workflowId, ...(uiUrl !== undefined ? { uiUrl } : {}) },
  };
}

/**
 * The supervisor saw the problem again: fresher evidence, summary, severity and remediation (the mode
 * may have changed). A resolved incident is left alone. Consecutive observations share one history
 * entry, so a problem seen every tick does not push the decisions out of the bounded history.
 */
export function observe(doc: IncidentDocument, finding: Finding, at: string): IncidentDocument {
  if (isResolvedIncident(doc)) return doc;
  const { remediation: _previous, ...rest } = doc;
  const refreshed: IncidentDocument = { ...rest, ...fromFinding(finding), observations: doc.observations + 1, updatedAt: at };
  const entry: IncidentHistoryEntry = {
    at,
    kind: 'observed',
    detail: `observation ${refreshed.observations}: ${finding.summary}`,
  };
  const last = doc.history[doc.history.length - 1];
  const history = last?.kind === 'observed' ? [...doc.history.slice(0, -1), entry] : [...doc.history, entry];
  return { ...refreshed, history: history.slice(-incidentHistoryLimit) };
}

/**
 * The supervisor looked and the problem was gone: an incident nobody is acting on resolves with no
 * action. A remediation under way re-checks the evidence itself; resolved and failed incidents stay.
 */
export function clearEvidence(doc: IncidentDocument, at: string, detail: string): IncidentDocument {
  if (doc.state !== 'open' && doc.state !== 'awaiting_approval') return doc;
  return resolved(withHistory(doc, { at, kind: 'evidence_cleared', detail }), 'evidence_cleared', at, detail);
}

const legalFrom: Record<IncidentAction, readonly IncidentState[]> = {
  approve: ['awaiting_approval'],
  reject: ['open', 'awaiting_approval'],
  retry: ['failed'],
  resolve: ['open', 'awaiting_approval', 'failed'],
};

/** Whether a person may take `action` now; the refusal names the state (the API answers it as a 409). */
export function decideLegality(
  doc: Pick<IncidentDocument, 'incidentId' | 'state'>,
  action: IncidentAction,
): { ok: true } | { ok: false; message: string } {
  const from = legalFrom[action];
  if (from.includes(doc.state)) return { ok: true };
  return {
    ok: false,
    message: `incident ${doc.incidentId} is ${doc.state}; ${action} is only possible from ${from.join(' or ')}`,
  };
}

/**
 * Applies a person's decision (throws when `decideLegality` refuses it). `approve` starts the
 * remediation on the approver's behalf (state `remediating`: the workflow then acts, `by` the approver).
 */
export function applyDecision(doc: IncidentDocument, decision: IncidentDecisionInput, at: string): IncidentDocument {
  const legality = decideLegality(doc, decision.action);
  if (!legality.ok) throw new Error(legality.message);
  const note = decision.note ? `: ${decision.note}` : '';
  const decided = withHistory(doc, { at, kind: 'decided', detail: `${decision.action}${note}`, by: decision.by });
  switch (decision.action) {
    case 'approve':
      return startRemediation(decided, decision.by, at);
    case 'reject':
      return resolved(decided, 'rejected', at, 'no action taken', decision.by);
    case 'retry':
      return moved(decided, 'awaiting_approval', at, 'a person approves the re-run', decision.by);
    case 'resolve':
      return resolved(decided, 'resolved_by_sre', at, `resolved by ${decision.by}`, decision.by);
  }
}

/** An illegal decision that came as a signal (which cannot be refused) is kept in the history as ignored. */
export function noteIgnoredDecision(
  doc: IncidentDocument,
  decision: IncidentDecisionInput,
  reason: string,
  at: string,
): IncidentDocument {
  return withHistory(doc, { at, kind: 'decided', detail: `ignored ${decision.action}: ${reason}`, by: decision.by });
}

function lastObservedAt(doc: IncidentDocument): number {
  const observed = doc.history.filter((entry) => entry.kind === 'observed').map((entry) => Date.parse(entry.at));
  return Math.max(Date.parse(doc.createdAt), ...observed);
}

/**
 * What the incident workflow does next:
 * - `done`: resolved.
 * - `remediate`: act now — the state is `remediating` (approved, or started automatically), or `open`
 *   with an auto-executable remediation. After a gated (skipped) attempt an auto remediation waits for
 *   the next observation (`watch`), so a held-back action is not retried in a tight loop; after a
 *   remediation that does not fix the problem succeeded (`page`), it watches for good.
 * - `await_decision`: a person must decide (awaiting approval, failed, or open with a remediation that
 *   is not auto-executable: call `awaitApproval` first).
 * - `watch`: nothing to do but wait for observations, the evidence clearing or a person resolving it.
 */
export function nextStep(doc: IncidentDocument): IncidentStep {
  switch (doc.state) {
    case 'resolved':
      return 'done';
    case 'remediating':
      return 'remediate';
    case 'awaiting_approval':
    case 'failed':
      return 'await_decision';
    case 'open': {
      if (doc.remediation === undefined) return 'watch';
      if (!doc.remediation.autoExecutable) return 'await_decision';
      const last = doc.attempts[doc.attempts.length - 1];
      if (last?.status === 'skipped' && Date.parse(last.at) >= lastObservedAt(doc)) return 'watch';
      // Done what it can (paged): wait for the evidence to clear rather than act again.
      if (last?.status === 'succeeded' && !doc.remediation.fixesProblem) return 'watch';
      return 'remediate';
    }
  }
}

/** open → awaiting_approval: the remediation needs a person. A no-op in any other state or without a remediation. */
export function awaitApproval(doc: IncidentDocument, at: string): IncidentDocument {
  if (doc.state !== 'open' || doc.remediation === undefined) return doc;
  return moved(doc, 'awaiting_approval', at, `${doc.remediation.label} needs a person's approval`);
}

/** → remediating, from open (automatic, `by` = `supervisor`) or awaiting_approval (approved). Throws otherwise. */
export function startRemediation(doc: IncidentDocument, by: string, at: string): IncidentDocument {
  if ((doc.state !== 'open' && doc.state !== 'awaiting_approval') || doc.remediation === undefined) {
    throw new Error(
      `incident ${doc.incidentId} is ${doc.state}${doc.remediation ? '' : ' with no remediation'}; ` +
        'a remediation starts only from open or awaiting_approval',
    );
  }
  return moved(doc, 'remediating', at, doc.remediation.label, by);
}

/**
 * Records the attempt and ends the remediation: succeeded → resolved ('remediated'); failed → failed;
 * skipped → resolved ('evidence_cleared') when the evidence was gone, else (throttle, breaker) back to
 * awaiting_approval when it needs a person, or open when it is automatic, so the next observation retries.
 */
export function finishRemediation(
  doc: IncidentDocument,
  attempt: RemediationAttempt,
  at: string,
  skipCause: SkipCause = 'gated',
): IncidentDocument {
  if (doc.state !== 'remediating') {
    throw new Error(`incident ${doc.incidentId} is ${doc.state}; a remediation finishes only from remediating`);
  }
  const recorded = withHistory(
    { ...doc, attempts: [...doc.attempts, attempt].slice(-incidentAttemptsLimit) },
    { at, kind: 'remediation', detail: `${attempt.remediationId} ${attempt.status}: ${attempt.detail}`, by: attempt.by },
  );
  switch (attempt.status) {
    case 'succeeded':
      if (doc.remediation?.fixesProblem === false) {
        return moved(recorded, 'open', at, `${attempt.detail}; open until the evidence clears`, attempt.by);
      }
      return resolved(recorded, 'remediated', at, attempt.detail, attempt.by);
    case 'failed':
      return moved(recorded, 'failed', at, attempt.detail, attempt.by);
    case 'skipped':
      if (skipCause === 'evidence_cleared') return resolved(recorded, 'evidence_cleared', at, attempt.detail);
      return moved(recorded, doc.remediation?.autoExecutable ? 'open' : 'awaiting_approval', at, attempt.detail);
  }
}
