import {
  condition,
  continueAsNew,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { IncidentActivities } from '../activities/incidents';
import {
  applyDecision,
  awaitApproval,
  clearEvidence,
  decideLegality,
  finishRemediation,
  nextStep,
  noteIgnoredDecision,
  observe,
  openIncident,
  startRemediation,
  type IncidentDocument,
  type SelfHealingMode,
} from '../domain/self-healing';
import {
  incidentClearedSignal,
  incidentDecideSignal,
  incidentDecideUpdate,
  incidentMemoKey,
  incidentObservedSignal,
  incidentSearchAttributes,
  incidentStateQuery,
  type IncidentDecision,
  type IncidentWorkflowInput,
} from '../temporal/contracts';

/**
 * One incident, from detection to resolution (docs/architecture.md, Self-healing). The supervisor
 * opens it with signal-with-start and keeps signalling what it sees (`observed`, `evidenceCleared`);
 * people decide by the `decide` signal (Temporal CLI and UI) or the `decideIncident` update (API).
 * The state machine is `src/domain/self-healing/incident.ts`; this workflow only waits, asks the
 * remediation activity to act, and publishes the document (memo + search attributes) on every change.
 */

/** Continue as new past this many events, well before Temporal's warnings, carrying the document. */
const maxHistoryEvents = 2_000;

/**
 * After a person rejects an incident or closes it by hand, the supervisor may still see the problem.
 * The workflow then stays, resolved, for this long (or until the evidence clears), so the next tick
 * finds it and leaves it alone instead of opening the same incident again at once.
 */
export const decidedQuietMs = 60 * 60_000;

const { remediateIncident } = proxyActivities<IncidentActivities>({
  // A remediation is a few Temporal or ledger calls. A lost worker is noticed by the heartbeat, and the
  // retried attempt reuses its slot, so it never acts twice (see remediateIncident).
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
});

export async function incidentWorkflow(input: IncidentWorkflowInput): Promise<IncidentDocument> {
  const now = () => new Date().toISOString();
  const { workflowId } = workflowInfo();
  let mode: SelfHealingMode = input.mode;
  let doc: IncidentDocument =
    input.carried ??
    openIncident({
      incidentId: input.incidentId,
      finding: input.finding,
      at: input.openedAt ?? now(),
      workflowId,
      ...(input.uiUrl !== undefined ? { uiUrl: input.uiUrl } : {}),
    });
  /** Bumped on every change, so the loop wakes and the document is published. */
  let version = 0;
  /** The supervisor said the problem is gone (ends the quiet period of a decided incident). */
  let evidenceGone = false;
  const change = (next: IncidentDocument) => {
    if (next === doc) return;
    doc = next;
    version++;
  };

  setHandler(incidentStateQuery, () => doc);
  setHandler(incidentObservedSignal, ({ finding, mode: observedMode, at }) => {
    // Signal-with-start delivers the opening finding twice: as the input and as this signal.
    if (!input.carried && doc.observations === 1 && at === input.openedAt) return;
    mode = observedMode;
    change(observe(doc, finding, at));
  });
  setHandler(incidentClearedSignal, ({ at, detail }) => {
    evidenceGone = true;
    change(clearEvidence(doc, at, detail));
  });
  setHandler(incidentDecideSignal, (decision: IncidentDecision) => {
    const legality = decideLegality(doc, decision.action);
    change(legality.ok ? applyDecision(doc, decision, now()) : noteIgnoredDecision(doc, decision, legality.message, now()));
  });
  setHandler(
    incidentDecideUpdate,
    (decision: IncidentDecision) => {
      change(applyDecision(doc, decision, now()));
      return doc;
    },
    {
      validator: (decision: IncidentDecision) => {
        const legality = decideLegality(doc, decision.action);
        if (!legality.ok) throw new Error(legality.message);
      },
    },
  );

  let published = -1;
  const publish = () => {
    if (published === version) return;
    published = version;
    upsertSearchAttributes([
      { key: incidentSearchAttributes.state, value: doc.state },
      { key: incidentSearchAttributes.detector, value: doc.detector },
      { key: incidentSearchAttributes.severity, value: doc.severity },
    ]);
    upsertMemo({ [incidentMemoKey]: doc });
    setCurrentDetails(`**${doc.state}** · ${doc.detector} (${doc.severity}): ${doc.summary}`);
  };

  for (;;) {
    publish();
    const step = nextStep(doc);
    if (step === 'done') break;
    if (step === 'remediate') {
      if (doc.state === 'open') change(startRemediation(doc, 'supervisor', now()));
      publish();
      await remediate();
      continue;
    }
    if (step === 'await_decision' && doc.state === 'open') {
      change(awaitApproval(doc, now()));
      continue;
    }
    // Wait for an observation, the evidence clearing or a decision.
    const seen = version;
    await condition(() => version !== seen || tooLong());
    if (version === seen && tooLong()) {
      // Handlers here are synchronous, so no signal or update is half-handled at this point.
      await continueAsNew<typeof incidentWorkflow>({ ...input, mode, carried: doc });
    }
  }
  publish();
  if (doc.resolution === 'rejected' || doc.resolution === 'resolved_by_sre') {
    const quietUntil = Date.parse(doc.resolvedAt ?? now()) + decidedQuietMs;
    while (!evidenceGone && Date.now() < quietUntil) {
      if (await condition(() => evidenceGone || tooLong(), quietUntil - Date.now())) {
        if (!evidenceGone) await continueAsNew<typeof incidentWorkflow>({ ...input, mode, carried: doc });
      }
    }
  }
  return doc;

  /**
   * Acts through the activity, which re-checks the evidence, takes a slot from the installation-wide
   * throttle and breaker, and only then acts. A person approving (`by` them) or the supervisor.
   */
  async function remediate(): Promise<void> {
    const remediation = doc.remediation;
    if (!remediation) return;
    const by = lastActor(doc);
    const outcome = await remediateIncident({
      incidentId: doc.incidentId,
      detector: doc.detector,
      dedupeKey: doc.dedupeKey,
      remediation,
      by,
      slotId: uuid4(),
    });
    change(
      finishRemediation(
        doc,
        { remediationId: remediation.id, status: outcome.status, detail: outcome.detail, by, at: now() },
        now(),
        outcome.skipCause ?? 'gated',
      ),
    );
  }
}

function tooLong(): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength > maxHistoryEvents;
}

/** Who started the remediation under way: the approver, or `supervisor` for an automatic one. */
function lastActor(doc: IncidentDocument): string {
  const started = [...doc.history].reverse().find((entry) => entry.kind === 'state' && entry.detail.includes('→ remediating'));
  return started?.by ?? 'supervisor';
}
