import {
  applyDecision,
  awaitApproval,
  clearEvidence,
  decideLegality,
  finishRemediation,
  incidentActions,
  incidentAttemptsLimit,
  incidentHistoryLimit,
  incidentStates,
  nextStep,
  noteIgnoredDecision,
  observe,
  offerRemediation,
  openIncident,
  startRemediation,
  type Finding,
  type IncidentAction,
  type IncidentDocument,
  type IncidentState,
  type IncidentStep,
  type RemediationAttempt,
  type SelfHealingMode,
} from '../../../src/domain/self-healing';

const t = (second: number) => new Date(Date.parse('2026-11-28T12:00:00Z') + second * 1000).toISOString();

const orphanFinding = (mode: SelfHealingMode = 'observe_only', summary = 'reservation res-1 holds $2.50'): Finding => ({
  detector: 'orphaned_reservation',
  dedupeKey: 'res-1',
  severity: 'medium',
  summary,
  subject: { kind: 'reservation', id: 'res-1' },
  tenantId: 'acme',
  evidence: { heldMicroUsd: 2_500_000 },
  remediation: offerRemediation('release_reservation', { reservationId: 'res-1', ownerWorkflowId: 'run-r-3' }, mode),
});

const noPollersFinding: Finding = {
  detector: 'no_pollers',
  dedupeKey: 'palyra',
  severity: 'critical',
  summary: 'task queue palyra has never been polled',
  subject: { kind: 'task_queue', id: 'palyra' },
  evidence: {},
};

const open = (finding: Finding = orphanFinding()) =>
  openIncident({ incidentId: 'incident-ab12cd34ef56ab78', finding, at: t(0), workflowId: 'incident-ab12cd34ef56ab78' });

const attempt = (status: RemediationAttempt['status'], by = 'supervisor', at = t(20)): RemediationAttempt => ({
  remediationId: 'release_reservation',
  status,
  detail: `release ${status}`,
  by,
  at,
});

/** An incident brought to `state` by the legal path. */
function inState(state: IncidentState): IncidentDocument {
  const opened = open();
  switch (state) {
    case 'open':
      return opened;
    case 'awaiting_approval':
      return awaitApproval(opened, t(1));
    case 'remediating':
      return applyDecision(inState('awaiting_approval'), { action: 'approve', by: 'alice' }, t(2));
    case 'failed':
      return finishRemediation(inState('remediating'), attempt('failed', 'alice'), t(3));
    case 'resolved':
      return finishRemediation(inState('remediating'), attempt('succeeded', 'alice'), t(3));
  }
}

describe('openIncident and observe', () => {
  it('opens with the finding, one observation and a link to its workflow', () => {
    const doc = openIncident({
      incidentId: 'incident-1',
      finding: orphanFinding(),
      at: t(0),
      workflowId: 'incident-1',
      uiUrl: 'http://ui/incident-1',
    });
    expect(doc).toMatchObject({
      incidentId: 'incident-1',
      detector: 'orphaned_reservation',
      dedupeKey: 'res-1',
      severity: 'medium',
      state: 'open',
      subject: { kind: 'reservation', id: 'res-1' },
      tenantId: 'acme',
      remediation: { id: 'release_reservation' },
      attempts: [],
      observations: 1,
      createdAt: t(0),
      updatedAt: t(0),
      temporal: { workflowId: 'incident-1', uiUrl: 'http://ui/incident-1' },
    });
    expect(doc.resolvedAt).toBeUndefined();
  });

  it('refreshes evidence, summary, severity and remediation, and counts the observation', () => {
    const seen = observe(open(), { ...orphanFinding('auto', 'now $3'), severity: 'high', evidence: { heldMicroUsd: 3 } }, t(15));
    expect(seen).toMatchObject({
      state: 'open',
      summary: 'now $3',
      severity: 'high',
      evidence: { heldMicroUsd: 3 },
      remediation: { autoExecutable: true },
      observations: 2,
      updatedAt: t(15),
    });
  });

  it('drops a remediation the fresh finding no longer offers', () => {
    expect(observe(open(), { ...orphanFinding(), remediation: undefined }, t(15)).remediation).toBeUndefined();
  });

  it('folds consecutive observations into one history entry, so decisions stay in the bounded history', () => {
    let doc = open();
    for (let i = 1; i <= 200; i++) doc = observe(doc, orphanFinding(), t(i));
    expect(doc.observations).toBe(201);
    expect(doc.history.map((entry) => entry.kind)).toEqual(['state', 'observed']);
    expect(doc.history[1]?.detail).toContain('observation 201');
  });

  it.each<[IncidentState, boolean]>([
    ['open', true],
    ['awaiting_approval', true],
    ['remediating', true],
    ['failed', true],
    ['resolved', false],
  ])('an observation of a %s incident changes it: %s (state kept)', (state, changes) => {
    const before = inState(state);
    const after = observe(before, orphanFinding(), t(30));
    expect(after.state).toBe(state);
    expect(after.observations).toBe(before.observations + (changes ? 1 : 0));
  });
});

describe('clearEvidence', () => {
  it.each<[IncidentState, IncidentState]>([
    ['open', 'resolved'],
    ['awaiting_approval', 'resolved'],
    // A remediation under way re-checks the evidence itself.
    ['remediating', 'remediating'],
    ['failed', 'failed'],
    ['resolved', 'resolved'],
  ])('from %s → %s', (from, to) => {
    const before = inState(from);
    const after = clearEvidence(before, t(40), 'run r-3 released its hold');
    expect(after.state).toBe(to);
    if (from !== to) {
      expect(after).toMatchObject({ resolution: 'evidence_cleared', resolvedAt: t(40) });
      expect(
        after.history.some((entry) => entry.kind === 'evidence_cleared' && entry.detail === 'run r-3 released its hold'),
      ).toBe(true);
    } else {
      expect(after).toBe(before);
    }
  });
});

describe('decisions', () => {
  const legal: Record<IncidentAction, IncidentState[]> = {
    approve: ['awaiting_approval'],
    reject: ['open', 'awaiting_approval'],
    retry: ['failed'],
    resolve: ['open', 'awaiting_approval', 'failed'],
  };
  const pairs = incidentActions.flatMap((action) => incidentStates.map((state) => [action, state] as const));

  it.each(pairs.filter(([action, state]) => !legal[action].includes(state)))(
    '%s from %s is refused with a message naming the state',
    (action, state) => {
      const doc = inState(state);
      const legality = decideLegality(doc, action);
      const message = `incident incident-ab12cd34ef56ab78 is ${state}; ${action} is only possible from ${legal[action].join(' or ')}`;
      expect(legality).toEqual({ ok: false, message });
      expect(() => applyDecision(doc, { action, by: 'bob' }, t(50))).toThrow(message);
    },
  );

  it.each<[IncidentAction, IncidentState, IncidentState, string | undefined]>([
    ['approve', 'awaiting_approval', 'remediating', undefined],
    ['reject', 'open', 'resolved', 'rejected'],
    ['reject', 'awaiting_approval', 'resolved', 'rejected'],
    ['retry', 'failed', 'awaiting_approval', undefined],
    ['resolve', 'open', 'resolved', 'resolved_by_sre'],
    ['resolve', 'awaiting_approval', 'resolved', 'resolved_by_sre'],
    ['resolve', 'failed', 'resolved', 'resolved_by_sre'],
  ])('%s from %s → %s (resolution %s), recorded with who and why', (action, from, to, resolution) => {
    const before = inState(from);
    expect(decideLegality(before, action)).toEqual({ ok: true });
    const after = applyDecision(before, { action, by: 'bob', note: 'checked the ledger' }, t(50));
    expect(after.state).toBe(to);
    expect(after.resolution).toBe(resolution);
    expect(after.resolvedAt).toBe(resolution ? t(50) : undefined);
    expect(after.attempts).toEqual(before.attempts); // a decision acts on nothing by itself
    expect(after.history).toContainEqual({ at: t(50), kind: 'decided', detail: `${action}: checked the ledger`, by: 'bob' });
    expect(before.state).toBe(from); // the argument is left alone
  });

  it('records an ignored decision (a signal cannot be refused) without changing the state', () => {
    const doc = inState('resolved');
    const legality = decideLegality(doc, 'approve');
    if (legality.ok) throw new Error('expected a refusal');
    const noted = noteIgnoredDecision(doc, { action: 'approve', by: 'carol' }, legality.message, t(60));
    expect(noted.state).toBe('resolved');
    expect(noted.history.at(-1)).toEqual({
      at: t(60),
      kind: 'decided',
      detail: `ignored approve: ${legality.message}`,
      by: 'carol',
    });
  });
});

describe('nextStep', () => {
  it.each<[string, IncidentStep, IncidentDocument]>([
    ['open with an auto-executable remediation', 'remediate', open(orphanFinding('auto'))],
    ['open with a remediation that waits for a person', 'await_decision', open(orphanFinding('observe_only'))],
    ['open with no remediation', 'watch', open(noPollersFinding)],
    ['awaiting approval', 'await_decision', inState('awaiting_approval')],
    ['remediating (approved)', 'remediate', inState('remediating')],
    ['failed', 'await_decision', inState('failed')],
    ['resolved', 'done', inState('resolved')],
  ])('%s → %s', (_case, step, doc) => {
    expect(nextStep(doc)).toBe(step);
  });

  it('awaitApproval moves an open incident with a remediation, and nothing else', () => {
    expect(awaitApproval(open(), t(1)).state).toBe('awaiting_approval');
    expect(awaitApproval(open(noPollersFinding), t(1)).state).toBe('open');
    expect(awaitApproval(inState('failed'), t(1)).state).toBe('failed');
  });
});

describe('remediation', () => {
  it('runs unattended in auto and resolves as remediated', () => {
    const started = startRemediation(open(orphanFinding('auto')), 'supervisor', t(10));
    expect(started.state).toBe('remediating');
    const done = finishRemediation(started, attempt('succeeded'), t(20));
    expect(done).toMatchObject({
      state: 'resolved',
      resolution: 'remediated',
      resolvedAt: t(20),
      attempts: [attempt('succeeded')],
    });
  });

  it('a page that went out leaves the incident open, watching, until the evidence clears (it pages once)', () => {
    const finding: Finding = { ...noPollersFinding, remediation: offerRemediation('page', { taskQueue: 'palyra' }, 'auto') };
    const paging = open(finding);
    expect(nextStep(paging)).toBe('remediate');
    const paged = finishRemediation(startRemediation(paging, 'supervisor', t(10)), attempt('succeeded'), t(20));
    expect(paged.state).toBe('open');
    expect(nextStep(paged)).toBe('watch');
    expect(nextStep(observe(paged, finding, t(30)))).toBe('watch');
    expect(clearEvidence(paged, t(40), 'a poller is back')).toMatchObject({ state: 'resolved', resolution: 'evidence_cleared' });
  });

  it('a failed remediation waits for a person, and retry asks for a fresh approval before acting again', () => {
    const failed = inState('failed');
    expect(failed.attempts).toEqual([attempt('failed', 'alice')]);
    const retried = applyDecision(failed, { action: 'retry', by: 'bob' }, t(30));
    expect(nextStep(retried)).toBe('await_decision');
    const approved = applyDecision(retried, { action: 'approve', by: 'carol' }, t(31));
    expect(nextStep(approved)).toBe('remediate');
    const done = finishRemediation(approved, attempt('succeeded', 'carol', t(32)), t(32));
    expect(done).toMatchObject({ state: 'resolved', resolution: 'remediated' });
    expect(done.attempts.map((a) => a.status)).toEqual(['failed', 'succeeded']);
  });

  it.each<[string, SelfHealingMode, 'evidence_cleared' | 'gated', IncidentState, string | undefined]>([
    ['evidence gone on the re-check (auto)', 'auto', 'evidence_cleared', 'resolved', 'evidence_cleared'],
    ['evidence gone on the re-check (approved)', 'observe_only', 'evidence_cleared', 'resolved', 'evidence_cleared'],
    ['throttled or breaker open (auto)', 'auto', 'gated', 'open', undefined],
    ['throttled or breaker open (approved)', 'observe_only', 'gated', 'awaiting_approval', undefined],
  ])('a skipped attempt, %s → %s', (_case, mode, cause, state, resolution) => {
    const base = open(orphanFinding(mode));
    const remediating =
      mode === 'auto'
        ? startRemediation(base, 'supervisor', t(10))
        : applyDecision(awaitApproval(base, t(5)), { action: 'approve', by: 'alice' }, t(10));
    const after = finishRemediation(remediating, attempt('skipped'), t(20), cause);
    expect(after.state).toBe(state);
    expect(after.resolution).toBe(resolution);
    expect(after.attempts.at(-1)).toMatchObject({ status: 'skipped' });
  });

  it('after a gated auto attempt, waits for the next observation before trying again', () => {
    const gated = finishRemediation(
      startRemediation(open(orphanFinding('auto')), 'supervisor', t(10)),
      attempt('skipped'),
      t(20),
    );
    expect(nextStep(gated)).toBe('watch');
    expect(nextStep(observe(gated, orphanFinding('auto'), t(35)))).toBe('remediate');
  });

  it.each<[IncidentState]>([['remediating'], ['failed'], ['resolved']])('cannot start a remediation from %s', (state) => {
    expect(() => startRemediation(inState(state), 'supervisor', t(70))).toThrow(`is ${state}`);
  });

  it('cannot start without a remediation, nor finish one that did not start', () => {
    expect(() => startRemediation(open(noPollersFinding), 'supervisor', t(70))).toThrow('with no remediation');
    expect(() => finishRemediation(open(), attempt('succeeded'), t(70))).toThrow('is open');
  });
});

describe('bounds (the document travels in memos)', () => {
  it(`keeps the last ${incidentHistoryLimit} history entries and the last ${incidentAttemptsLimit} attempts`, () => {
    let doc = inState('failed');
    for (let i = 0; i < 40; i++) {
      doc = applyDecision(doc, { action: 'retry', by: 'bob' }, t(100 + i));
      doc = applyDecision(doc, { action: 'approve', by: 'bob' }, t(100 + i));
      doc = finishRemediation(doc, attempt('failed', 'bob', t(100 + i)), t(100 + i));
    }
    expect(doc.attempts).toHaveLength(incidentAttemptsLimit);
    expect(doc.attempts.at(-1)?.at).toBe(t(139));
    expect(doc.history).toHaveLength(incidentHistoryLimit);
    expect(doc.history.at(-1)?.at).toBe(t(139));
  });
});
