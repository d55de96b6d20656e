import {
  defaultSelfHealingSettings,
  detectorNames,
  detectors,
  evaluatedDetectors,
  formatDuration,
  longPollMs,
  runDetectors,
  type DetectorName,
  type EvidenceSource,
  type FailingWorkflowEvidence,
  type Finding,
  type OpenWorkflowEvidence,
  type PendingActivityEvidence,
  type PendingReservationEvidence,
  type SelfHealingMode,
  type SelfHealingSettings,
  type SupervisorEvidence,
  type TaskQueueEvidence,
  type TenantSpendEvidence,
} from '../../../src/domain/self-healing';

const now = Date.parse('2026-11-28T12:00:00Z');
const ago = (ms: number) => now - ms;

const evidence = (extra: Partial<SupervisorEvidence> = {}): SupervisorEvidence => ({
  observedAt: now,
  workflows: [],
  taskQueues: [],
  failingWorkflows: [],
  pendingReservations: [],
  tenantSpend: [],
  unavailable: {},
  ...extra,
});

const run = (id: string, extra: Partial<OpenWorkflowEvidence> = {}): OpenWorkflowEvidence => ({
  kind: 'run',
  id,
  workflowId: `run-${id}`,
  temporalRunId: `trun-${id}`,
  tenantId: 'acme',
  startedAt: ago(60_000),
  state: 'running',
  pendingActivities: [],
  ...extra,
});

const task = (id: string, extra: Partial<OpenWorkflowEvidence> = {}): OpenWorkflowEvidence => ({
  ...run(id),
  kind: 'task',
  workflowId: `bgtask-${id}`,
  ...extra,
});

const providerAttempt = (extra: Partial<PendingActivityEvidence> = {}): PendingActivityEvidence => ({
  activityId: '4',
  activityType: 'invokeProvider',
  attempt: 1,
  state: 'started',
  lastStartedAt: ago(600_000),
  providerId: 'openai',
  progress: { tokensSoFar: 120, attempt: 1, progressAt: ago(30_000) },
  ...extra,
});

const settingsWith = (
  detectorOverrides: Partial<{ [D in DetectorName]: Partial<SelfHealingSettings['detectors'][D]> }> = {},
  mode: SelfHealingMode = 'observe_only',
): SelfHealingSettings => {
  const detectors = { ...defaultSelfHealingSettings.detectors };
  for (const name of detectorNames) {
    Object.assign(detectors, { [name]: { ...detectors[name], ...detectorOverrides[name] } });
  }
  return { ...defaultSelfHealingSettings, mode, detectors };
};

/** Table rows `[case, input, found]` as objects, so the test title shows the case and not the input. */
const cases = <T>(rows: [string, T, boolean][]) => rows.map(([name, input, found]) => ({ name, input, found }));

const only = (name: DetectorName, ev: SupervisorEvidence, settings = settingsWith()): Finding[] =>
  runDetectors(ev, settings).filter((finding) => finding.detector === name);

describe('stalled_stream', () => {
  const threshold = defaultSelfHealingSettings.detectors.stalled_stream.stallAfterMs;
  const withActivity = (activity: PendingActivityEvidence) =>
    evidence({ workflows: [run('r-1', { pendingActivities: [activity] })] });

  it.each(
    cases([
      [
        'progress just under the threshold',
        providerAttempt({ progress: { tokensSoFar: 5, attempt: 1, progressAt: ago(threshold - 1) } }),
        false,
      ],
      [
        'progress exactly at the threshold',
        providerAttempt({ progress: { tokensSoFar: 5, attempt: 1, progressAt: ago(threshold) } }),
        true,
      ],
      [
        'progress well past the threshold',
        providerAttempt({ progress: { tokensSoFar: 5, attempt: 1, progressAt: ago(threshold * 3) } }),
        true,
      ],
      [
        'no progressAt (old worker): counted from the attempt start, just under',
        providerAttempt({ lastStartedAt: ago(threshold - 1), progress: { tokensSoFar: 0, attempt: 1 } }),
        false,
      ],
      [
        'no progressAt (old worker): counted from the attempt start, over',
        providerAttempt({ lastStartedAt: ago(threshold + 1), progress: { tokensSoFar: 0, attempt: 1 } }),
        true,
      ],
      [
        'a new attempt carrying the last attempt’s old heartbeat, started recently',
        providerAttempt({
          attempt: 2,
          lastStartedAt: ago(1_000),
          progress: { tokensSoFar: 900, attempt: 1, progressAt: ago(threshold * 5) },
        }),
        false,
      ],
      [
        'no heartbeat progress yet (still connecting)',
        providerAttempt({ progress: undefined, lastStartedAt: ago(threshold * 5) }),
        false,
      ],
      [
        'a scheduled (not started) attempt',
        providerAttempt({ state: 'scheduled', progress: { tokensSoFar: 0, attempt: 1, progressAt: ago(threshold * 5) } }),
        false,
      ],
      [
        'another activity type',
        providerAttempt({ activityType: 'settleRun', progress: { tokensSoFar: 0, attempt: 1, progressAt: ago(threshold * 5) } }),
        false,
      ],
    ]),
  )('$name → found: $found', ({ input: activity, found }) => {
    expect(only('stalled_stream', withActivity(activity))).toHaveLength(found ? 1 : 0);
  });

  it('names the attempt, the stall and the tokens so far, and offers to fail exactly that attempt', () => {
    const activity = providerAttempt({ attempt: 3, progress: { tokensSoFar: 412, attempt: 3, progressAt: ago(90_000) } });
    const [finding] = only('stalled_stream', withActivity(activity));
    expect(finding).toMatchObject({
      dedupeKey: 'run-r-1:4:3',
      severity: 'high',
      subject: { kind: 'run', id: 'r-1' },
      tenantId: 'acme',
      evidence: { tokensSoFar: 412, stalledForMs: 90_000, attempt: 3 },
      remediation: {
        id: 'fail_attempt',
        target: { workflowId: 'run-r-1', temporalRunId: 'trun-r-1', activityId: '4', attempt: 3 },
      },
    });
    expect(finding?.summary).toBe(
      'run r-1: provider attempt 3 has made no token progress for 1 min 30 s (threshold 1 min; 412 tokens so far)',
    );
  });

  it('treats a new attempt as a new problem, and a background task as its own subject', () => {
    const keys = (attempt: number) =>
      only(
        'stalled_stream',
        evidence({
          workflows: [
            run('r-1', {
              pendingActivities: [
                providerAttempt({ attempt, progress: { tokensSoFar: 1, attempt, progressAt: ago(threshold) } }),
              ],
            }),
            task('t-1', {
              pendingActivities: [providerAttempt({ progress: { tokensSoFar: 1, attempt: 1, progressAt: ago(threshold) } })],
            }),
          ],
        }),
      ).map((f) => [f.dedupeKey, f.subject.kind]);
    expect(keys(1)).toEqual([
      ['run-r-1:4:1', 'run'],
      ['bgtask-t-1:4:1', 'task'],
    ]);
    expect(keys(2)[0]).toEqual(['run-r-1:4:2', 'run']);
  });
});

describe('retry_storm', () => {
  const failing = (attempt: number, extra: Partial<PendingActivityEvidence> = {}) =>
    evidence({
      workflows: [
        run('r-1', {
          pendingActivities: [
            providerAttempt({
              attempt,
              state: 'scheduled',
              lastFailure: { message: 'upstream 503', type: 'ProviderUnavailable' },
              ...extra,
            }),
          ],
        }),
      ],
    });

  it.each([
    [2, {}, false],
    [3, {}, true],
    [7, {}, true],
    [5, { lastFailure: undefined }, false],
  ] as const)('attempt %s %j → found: %s', (attempt, extra, found) => {
    expect(only('retry_storm', failing(attempt, extra))).toHaveLength(found ? 1 : 0);
  });

  it('keeps one dedupeKey for the whole storm, names the failure and offers to open the provider circuit', () => {
    const [third] = only('retry_storm', failing(3));
    const [fifth] = only('retry_storm', failing(5));
    expect(third?.dedupeKey).toBe('run-r-1:4');
    expect(fifth?.dedupeKey).toBe(third?.dedupeKey);
    expect(fifth).toMatchObject({
      severity: 'medium',
      remediation: { id: 'open_provider_circuit', target: { providerId: 'openai' }, requiresApproval: true },
    });
    expect(fifth?.summary).toContain('upstream 503');
    expect(fifth?.summary).toContain('attempt 5 (threshold 3)');
  });

  it('offers no remediation when the provider is unknown', () => {
    const [finding] = only('retry_storm', failing(4, { providerId: undefined, activityType: 'settleRun' }));
    expect(finding).toBeDefined();
    expect(finding?.remediation).toBeUndefined();
  });

  it('uses the configured attempts', () => {
    expect(only('retry_storm', failing(3), settingsWith({ retry_storm: { attempts: 4 } }))).toHaveLength(0);
    expect(only('retry_storm', failing(4), settingsWith({ retry_storm: { attempts: 4 } }))).toHaveLength(1);
  });
});

describe('no_pollers', () => {
  const afterMs = defaultSelfHealingSettings.detectors.no_pollers.afterMs;
  const queue = (extra: Partial<TaskQueueEvidence>): TaskQueueEvidence => ({
    name: 'palyra',
    role: 'runs',
    pollers: [],
    ...extra,
  });

  it.each(
    cases([
      ['never polled and nobody listed', queue({}), true],
      [
        'an idle healthy worker: its long poll began 65 s ago and is still open',
        queue({ pollers: [{ identity: 'w1', lastAccessAt: ago(65_000) }], lastPollAt: ago(65_000) }),
        false,
      ],
      ['no pollers, a long poll plus just under afterMs ago', queue({ lastPollAt: ago(longPollMs + afterMs - 1) }), false],
      ['no pollers, a long poll plus afterMs ago', queue({ lastPollAt: ago(longPollMs + afterMs) }), true],
      [
        'a listed poller whose last poll is old (a dead worker)',
        queue({ pollers: [{ identity: 'w1', lastAccessAt: ago(longPollMs + afterMs + 5) }] }),
        true,
      ],
      [
        'a listed poller that polled just now',
        queue({ pollers: [{ identity: 'w1', lastAccessAt: ago(2_000) }], lastPollAt: ago(2_000) }),
        false,
      ],
      ['a poller with no access time (cannot tell: healthy)', queue({ pollers: [{ identity: 'w1' }] }), false],
      ['the supervisor queue with nobody', queue({ name: 'palyra-supervisor', role: 'supervisor' }), false],
    ]),
  )('$name → found: $found', ({ input: taskQueue, found }) => {
    expect(only('no_pollers', evidence({ taskQueues: [taskQueue] }))).toHaveLength(found ? 1 : 0);
  });

  it('is critical, keyed by the queue, and pages (auto-executable under auto: it only records and alerts)', () => {
    const ev = evidence({ taskQueues: [queue({ lastPollAt: ago(longPollMs + 125_000), backlog: 7 })] });
    const [observed] = only('no_pollers', ev);
    const [auto] = only('no_pollers', ev, settingsWith({}, 'auto'));
    expect(observed).toMatchObject({
      dedupeKey: 'palyra',
      severity: 'critical',
      subject: { kind: 'task_queue', id: 'palyra' },
      evidence: { backlog: 7, pollers: 0 },
      remediation: { id: 'page', autoExecutable: false },
    });
    expect(observed?.summary).toBe(
      'task queue palyra has had no poll for 2 min 5 s (threshold 1 min): no worker is running runs',
    );
    expect(auto?.remediation?.autoExecutable).toBe(true);
  });
});

describe('workflow_task_failing', () => {
  const failing = (extra: Partial<FailingWorkflowEvidence> = {}): FailingWorkflowEvidence => ({
    workflowId: 'run-r-9',
    temporalRunId: 'trun-9',
    workflowType: 'runWorkflow',
    attempt: 2,
    failure: 'Nondeterminism error: activity type mismatch',
    lastGoodWorkflowTaskEventId: 17,
    ...extra,
  });

  it.each([
    [1, false],
    [2, true],
    [9, true],
  ])('workflow task attempt %s → found: %s', (attempt, found) => {
    expect(only('workflow_task_failing', evidence({ failingWorkflows: [failing({ attempt })] }))).toHaveLength(found ? 1 : 0);
  });

  it('offers a reset to the last good workflow task, keyed by the execution', () => {
    const [finding] = only('workflow_task_failing', evidence({ failingWorkflows: [failing({ attempt: 4 })] }));
    expect(finding).toMatchObject({
      dedupeKey: 'run-r-9:trun-9',
      severity: 'critical',
      subject: { kind: 'workflow', id: 'run-r-9' },
      remediation: {
        id: 'reset_workflow',
        risk: 'high',
        target: { workflowId: 'run-r-9', temporalRunId: 'trun-9', eventId: 17 },
      },
    });
    expect(finding?.summary).toBe(
      'workflow run-r-9 (runWorkflow): its workflow task keeps failing, at attempt 4 (threshold 2): Nondeterminism error: activity type mismatch',
    );
  });

  it('offers no reset when no good workflow task is known', () => {
    const [finding] = only(
      'workflow_task_failing',
      evidence({ failingWorkflows: [failing({ lastGoodWorkflowTaskEventId: undefined })] }),
    );
    expect(finding).toBeDefined();
    expect(finding?.remediation).toBeUndefined();
  });
});

describe('orphaned_reservation', () => {
  const graceMs = defaultSelfHealingSettings.detectors.orphaned_reservation.graceMs;
  const hold = (extra: Partial<PendingReservationEvidence>): PendingReservationEvidence => ({
    reservationId: 'res-1',
    tenantId: 'acme',
    bookingId: 'r-3',
    ownerWorkflowId: 'run-r-3',
    ownerOpen: false,
    heldMicroUsd: 2_500_000,
    createdAt: ago(graceMs * 2),
    expiresAt: now + 3_600_000,
    ...extra,
  });

  it.each(
    cases([
      ['closed owner, just booked (its workflow may not be visible yet)', hold({ createdAt: ago(graceMs - 1) }), false],
      ['closed owner, exactly the grace old', hold({ createdAt: ago(graceMs) }), true],
      ['open owner, old hold', hold({ ownerOpen: true, createdAt: ago(graceMs * 100) }), false],
    ]),
  )('$name → found: $found', ({ input: reservation, found }) => {
    expect(only('orphaned_reservation', evidence({ pendingReservations: [reservation] }))).toHaveLength(found ? 1 : 0);
  });

  it('offers to release the hold, auto-executable only under auto', () => {
    const ev = evidence({ pendingReservations: [hold({})] });
    const [observed] = only('orphaned_reservation', ev);
    expect(observed).toMatchObject({
      dedupeKey: 'res-1',
      severity: 'medium',
      subject: { kind: 'reservation', id: 'res-1' },
      tenantId: 'acme',
      remediation: {
        id: 'release_reservation',
        target: { reservationId: 'res-1', ownerWorkflowId: 'run-r-3' },
        autoExecutable: false,
      },
    });
    expect(observed?.summary).toContain('$2.50');
    expect(only('orphaned_reservation', ev, settingsWith({}, 'auto'))[0]?.remediation?.autoExecutable).toBe(true);
  });
});

describe('approval_waiting', () => {
  const afterMs = defaultSelfHealingSettings.detectors.approval_waiting.afterMs;

  it.each(
    cases([
      ['waiting just under afterMs', run('r-1', { state: 'awaiting_approval', stateSince: ago(afterMs - 1) }), false],
      ['waiting exactly afterMs', run('r-1', { state: 'awaiting_approval', stateSince: ago(afterMs) }), true],
      ['no stateSince: counted from the start', run('r-1', { state: 'awaiting_approval', startedAt: ago(afterMs + 1) }), true],
      ['running for long', run('r-1', { state: 'running', stateSince: ago(afterMs * 10) }), false],
      ['a task (tasks do not await approval)', task('t-1', { state: 'awaiting_approval', stateSince: ago(afterMs * 2) }), false],
    ]),
  )('$name → found: $found', ({ input: workflow, found }) => {
    expect(only('approval_waiting', evidence({ workflows: [workflow] }))).toHaveLength(found ? 1 : 0);
  });

  it('says how long against the threshold, keyed by the run, and offers to deny it', () => {
    const [finding] = only(
      'approval_waiting',
      evidence({ workflows: [run('r-1', { state: 'awaiting_approval', stateSince: ago(720_000) })] }),
    );
    expect(finding).toMatchObject({
      dedupeKey: 'r-1',
      severity: 'low',
      subject: { kind: 'run', id: 'r-1' },
      remediation: { id: 'deny_approval', target: { runId: 'r-1', workflowId: 'run-r-1' }, requiresApproval: true },
    });
    expect(finding?.summary).toBe('run r-1 has waited for approval for 12 min (threshold 10 min)');
  });
});

describe('run_overdue', () => {
  const afterMs = defaultSelfHealingSettings.detectors.run_overdue.afterMs;

  it.each(
    cases([
      ['open just under afterMs', run('r-1', { startedAt: ago(afterMs - 1) }), false],
      ['open exactly afterMs', run('r-1', { startedAt: ago(afterMs) }), true],
      ['awaiting approval (approval_waiting’s)', run('r-1', { state: 'awaiting_approval', startedAt: ago(afterMs * 2) }), false],
      [
        'already asked to cancel (stuck_cancellation’s)',
        run('r-1', { cancelRequested: true, startedAt: ago(afterMs * 2) }),
        false,
      ],
      ['a long task', task('t-1', { startedAt: ago(afterMs * 2) }), false],
    ]),
  )('$name → found: $found', ({ input: workflow, found }) => {
    expect(only('run_overdue', evidence({ workflows: [workflow] }))).toHaveLength(found ? 1 : 0);
  });

  it('offers to cancel the run', () => {
    const [finding] = only('run_overdue', evidence({ workflows: [run('r-1', { startedAt: ago(afterMs + 300_000) })] }));
    expect(finding).toMatchObject({
      dedupeKey: 'r-1',
      severity: 'medium',
      remediation: { id: 'cancel_run', target: { runId: 'r-1', workflowId: 'run-r-1' } },
    });
    expect(finding?.summary).toBe('run r-1 has been open for 1 h 5 min (threshold 1 h)');
  });
});

describe('stuck_cancellation', () => {
  const afterMs = defaultSelfHealingSettings.detectors.stuck_cancellation.afterMs;

  it.each(
    cases([
      ['a task cancelling just under afterMs', task('t-1', { state: 'cancel_requested', stateSince: ago(afterMs - 1) }), false],
      ['a task cancelling exactly afterMs', task('t-1', { state: 'cancel_requested', stateSince: ago(afterMs) }), true],
      ['a run with a cancel request for long', run('r-1', { cancelRequested: true, stateSince: ago(afterMs + 1) }), true],
      ['a cancel request whose start is unknown', run('r-1', { cancelRequested: true, startedAt: ago(afterMs * 10) }), false],
      ['a task running for long', task('t-1', { state: 'running', stateSince: ago(afterMs * 10) }), false],
    ]),
  )('$name → found: $found', ({ input: workflow, found }) => {
    expect(only('stuck_cancellation', evidence({ workflows: [workflow] }))).toHaveLength(found ? 1 : 0);
  });

  it('keys by kind and id and offers to terminate and settle', () => {
    const [finding] = only(
      'stuck_cancellation',
      evidence({ workflows: [task('t-1', { state: 'cancel_requested', stateSince: ago(afterMs) })] }),
    );
    expect(finding).toMatchObject({
      dedupeKey: 'task:t-1',
      severity: 'high',
      subject: { kind: 'task', id: 't-1' },
      remediation: { id: 'terminate_and_settle', risk: 'high', target: { workflowId: 'bgtask-t-1', kind: 'task', id: 't-1' } },
    });
    expect(finding?.summary).toBe('task t-1 has been cancelling for 2 min (threshold 2 min)');
  });
});

describe('spend_spike', () => {
  const spend = (lastHourMicroUsd: number, trailingDayMicroUsd: number): TenantSpendEvidence => ({
    tenantId: 'acme',
    lastHourMicroUsd,
    trailingDayMicroUsd,
  });

  it.each(
    cases([
      ['exactly factor × the trailing hourly rate', spend(3_000_000, 24_000_000), false],
      ['just above factor × the trailing hourly rate', spend(3_000_001, 24_000_000), true],
      ['a big jump under the $1 floor', spend(999_999, 24_000), false],
      ['the floor itself, with a quiet trailing day', spend(1_000_000, 24_000), true],
      ['a new tenant with no trailing spend, over the floor', spend(1_500_000, 0), true],
      ['steady spend', spend(5_000_000, 120_000_000), false],
    ]),
  )('$name → found: $found', ({ input: tenant, found }) => {
    expect(only('spend_spike', evidence({ tenantSpend: [tenant] }))).toHaveLength(found ? 1 : 0);
  });

  it('names the figures and offers to pause the tenant', () => {
    const [finding] = only('spend_spike', evidence({ tenantSpend: [spend(4_200_000, 20_160_000)] }));
    expect(finding).toMatchObject({
      dedupeKey: 'acme',
      severity: 'medium',
      subject: { kind: 'tenant', id: 'acme' },
      tenantId: 'acme',
      remediation: { id: 'pause_tenant', target: { tenantId: 'acme' }, risk: 'high' },
    });
    expect(finding?.summary).toBe(
      'tenant acme spent $4.20 in the last hour, 5.0× its trailing hourly rate of $0.84 (threshold 3×, at least $1.00)',
    );
  });

  it('uses the configured factor and floor', () => {
    const settings = settingsWith({ spend_spike: { factor: 10, minMicroUsd: 100 } });
    // Trailing hourly rate 100: the spike starts above 1000.
    expect(only('spend_spike', evidence({ tenantSpend: [spend(1_000, 2_400)] }), settings)).toHaveLength(0);
    expect(only('spend_spike', evidence({ tenantSpend: [spend(1_001, 2_400)] }), settings)).toHaveLength(1);
    expect(only('spend_spike', evidence({ tenantSpend: [spend(99, 0)] }), settings)).toHaveLength(0);
  });
});

describe('runDetectors and evaluatedDetectors', () => {
  // One problem for every detector.
  const everything = evidence({
    workflows: [
      run('r-1', {
        startedAt: ago(7_200_000),
        pendingActivities: [
          providerAttempt({
            attempt: 3,
            lastFailure: { message: 'boom' },
            progress: { tokensSoFar: 1, attempt: 3, progressAt: ago(120_000) },
          }),
        ],
      }),
      run('r-2', { state: 'awaiting_approval', stateSince: ago(700_000) }),
      task('t-1', { state: 'cancel_requested', stateSince: ago(200_000) }),
    ],
    taskQueues: [{ name: 'palyra', role: 'runs', pollers: [] }],
    failingWorkflows: [
      { workflowId: 'run-r-9', temporalRunId: 'x', workflowType: 'runWorkflow', attempt: 3, lastGoodWorkflowTaskEventId: 5 },
    ],
    pendingReservations: [
      {
        reservationId: 'res-1',
        tenantId: 'acme',
        bookingId: 'b',
        ownerWorkflowId: 'run-b',
        ownerOpen: false,
        heldMicroUsd: 1,
        createdAt: ago(60_000),
        expiresAt: now,
      },
    ],
    tenantSpend: [{ tenantId: 'acme', lastHourMicroUsd: 9_000_000, trailingDayMicroUsd: 0 }],
  });

  it('finds one problem per detector, in detector order, each with its table severity', () => {
    const findings = runDetectors(everything, settingsWith());
    expect(findings.map((f) => f.detector)).toEqual([...detectorNames]);
    for (const finding of findings) expect(finding.severity).toBe(detectors[finding.detector].severity);
  });

  it('gives the same dedupe keys for the same evidence on every tick', () => {
    const keys = () => runDetectors(everything, settingsWith()).map((f) => `${f.detector}/${f.dedupeKey}`);
    expect(keys()).toEqual(keys());
    expect(keys()).toMatchInlineSnapshot(`
      [
        "stalled_stream/run-r-1:4:3",
        "retry_storm/run-r-1:4",
        "no_pollers/palyra",
        "workflow_task_failing/run-r-9:x",
        "orphaned_reservation/res-1",
        "approval_waiting/r-2",
        "run_overdue/r-1",
        "stuck_cancellation/task:t-1",
        "spend_spike/acme",
      ]
    `);
  });

  it.each(detectorNames.map((name) => [name]))(
    'skips %s when its mode is disabled, and does not count it as evaluated',
    (name) => {
      const settings = settingsWith({ [name]: { mode: 'disabled' } });
      expect(runDetectors(everything, settings).map((f) => f.detector)).not.toContain(name);
      expect(evaluatedDetectors(everything, settings)).toEqual(detectorNames.filter((n) => n !== name));
    },
  );

  it('runs nothing when self-healing is disabled, except a detector switched back on by its own mode', () => {
    const settings = settingsWith({ spend_spike: { mode: 'observe_only' } }, 'disabled');
    expect(evaluatedDetectors(everything, settings)).toEqual(['spend_spike']);
    expect(runDetectors(everything, settings).map((f) => f.detector)).toEqual(['spend_spike']);
  });

  const sources: [EvidenceSource, DetectorName[]][] = [
    ['workflows', ['stalled_stream', 'retry_storm', 'approval_waiting', 'run_overdue', 'stuck_cancellation']],
    ['taskQueues', ['no_pollers']],
    ['failingWorkflows', ['workflow_task_failing']],
    ['pendingReservations', ['orphaned_reservation']],
    ['tenantSpend', ['spend_spike']],
  ];
  it.each(sources)('skips the detectors over %s when it is unavailable: %j', (source, skipped) => {
    const ev = { ...everything, unavailable: { [source]: 'deadline exceeded' } };
    const evaluated = evaluatedDetectors(ev, settingsWith());
    expect(evaluated).toEqual(detectorNames.filter((n) => !skipped.includes(n)));
    expect(runDetectors(ev, settingsWith()).map((f) => f.detector)).toEqual(evaluated);
  });

  it.each([
    ['observe_only', undefined, false],
    ['auto', undefined, true],
    ['observe_only', 'auto', true],
    ['auto', 'observe_only', false],
  ] as const)('global mode %s with detector mode %s → the low-risk fail_attempt is auto-executable: %s', (global, own, auto) => {
    const settings = settingsWith(own ? { stalled_stream: { mode: own } } : {}, global);
    const [finding] = runDetectors(everything, settings).filter((f) => f.detector === 'stalled_stream');
    expect(finding?.remediation?.autoExecutable).toBe(auto);
  });

  it('never makes a remediation that needs approval auto-executable, even in auto', () => {
    const findings = runDetectors(everything, settingsWith({}, 'auto'));
    const auto = findings.filter((f) => f.remediation?.autoExecutable).map((f) => f.remediation?.id);
    expect(auto.sort()).toEqual(['fail_attempt', 'page', 'release_reservation']);
  });
});

describe('formatDuration', () => {
  it.each([
    [450, '450 ms'],
    [45_000, '45 s'],
    [720_000, '12 min'],
    [725_000, '12 min 5 s'],
    [3_900_000, '1 h 5 min'],
    [3_600_500, '1 h'],
    [90_000_000, '1 d 1 h'],
  ])('%s ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
