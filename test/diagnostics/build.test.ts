import { buildDiagnostics, createStartupTimings, overallStatus, sectionDeadlineMs } from '../../src/diagnostics';
import { configSchema } from '../../src/config';
import { openTestLedger, type TestLedger } from '../support/ledger';

/** The library on its own, as `palyra doctor` calls it: no Fastify, and here no Temporal either. */
let ledger: TestLedger;
beforeAll(async () => {
  ledger = await openTestLedger('sqlite');
});
afterAll(async () => {
  await ledger?.close();
});

const config = configSchema.parse({ dataDir: '/tmp/palyra-test-unused', logLevel: 'silent' });

describe('buildDiagnostics', () => {
  it('without a Temporal client: the Temporal sections are unavailable, the rest still answer', async () => {
    const startup = createStartupTimings();
    startup.record('migrations', 5_000);
    const snapshot = await buildDiagnostics({ config, ledger: ledger.repo, version: 'test', startup });
    const { sections } = snapshot;
    for (const name of ['temporal', 'taskQueues', 'backgroundTasks', 'supervisor'] as const) {
      expect(sections[name]).toMatchObject({ status: 'unavailable', error: expect.stringMatching(/no Temporal client/) });
    }
    expect(sections.ledger).toMatchObject({ status: 'ok', migrations: { pending: [] } });
    expect(sections.selfHealing).toMatchObject({
      status: 'degraded',
      reasonCodes: ['incidents_unreadable'],
      openIncidents: null,
      nextRemediation: { allowed: true, reason: null },
    });
    expect(sections.process).toMatchObject({
      status: 'degraded',
      // The jest worker's own RSS may be above the baseline by now (rss_above_baseline): not asserted.
      reasonCodes: expect.arrayContaining(['startup_step_slow']),
      startup: [{ step: 'migrations', durationMs: 5_000, budgetMs: 2_000, overBudget: true }],
    });
    expect(snapshot.status).toBe('degraded');
    expect(snapshot.durationMs).toBeLessThan(sectionDeadlineMs);
  });

  it('reports the remediation breaker as the gate would decide it', async () => {
    const breaker = config.selfHealing.circuitBreaker;
    for (let i = 0; i < breaker.consecutiveFailures; i++) {
      const claim = await ledger.repo.claimRemediationSlot({
        incidentId: `incident-${String(i).padStart(16, '0')}`,
        remediationId: 'page',
        by: 'supervisor',
        maxPerMinute: 100,
        breaker,
      });
      if (!claim.allowed) throw new Error(claim.reason);
      await ledger.repo.finishRemediation(claim.slotId, { status: 'failed', detail: 'boom' });
    }
    const { selfHealing } = (await buildDiagnostics({ config, ledger: ledger.repo, version: 'test' })).sections;
    expect(selfHealing).toMatchObject({
      reasonCodes: expect.arrayContaining(['remediation_circuit_open']),
      nextRemediation: { allowed: false, reason: expect.stringMatching(/^circuit open/) },
      circuitBreaker: { state: 'open' },
    });
    if (selfHealing.status === 'unavailable') throw new Error('unexpected');
    expect(selfHealing.recentRemediations).toHaveLength(breaker.consecutiveFailures);
  });
});

describe('overallStatus', () => {
  it.each([
    [['ok', 'ok'], 'ok'],
    [['ok', 'unavailable'], 'degraded'],
    [['degraded', 'unavailable'], 'degraded'],
    [['unavailable', 'blocking', 'ok'], 'blocking'],
    [[], 'ok'],
  ] as const)('%j → %s', (statuses, expected) => {
    expect(overallStatus(statuses)).toBe(expected);
  });
});
