import {
  offerRemediation,
  remediationCatalog,
  remediationIds,
  selfHealingModes,
  type RemediationId,
  type RemediationRisk,
} from '../../../src/domain/self-healing';

describe('remediation catalog', () => {
  // The table of issue 11: risk and whether a person must approve, whatever the mode.
  it.each<[RemediationId, RemediationRisk, boolean]>([
    ['fail_attempt', 'low', false],
    ['open_provider_circuit', 'medium', true],
    ['page', 'low', false],
    ['reset_workflow', 'high', true],
    ['release_reservation', 'low', false],
    ['deny_approval', 'medium', true],
    ['cancel_run', 'medium', true],
    ['terminate_and_settle', 'high', true],
    ['pause_tenant', 'high', true],
  ])('%s is %s risk, requires approval: %s', (id, risk, requiresApproval) => {
    expect(remediationCatalog[id]).toMatchObject({ risk, requiresApproval });
  });

  it('describes every remediation with a label and its blast radius', () => {
    for (const id of remediationIds) {
      expect(remediationCatalog[id].label).not.toBe('');
      expect(remediationCatalog[id].blastRadius).not.toBe('');
    }
    expect(remediationCatalog.page.blastRadius).toBe('records and alerts; nothing to auto-fix');
  });
});

describe('offerRemediation', () => {
  const autoInAuto: RemediationId[] = ['fail_attempt', 'page', 'release_reservation'];

  it.each(remediationIds.flatMap((id) => selfHealingModes.map((mode) => [id, mode] as const)))('%s under %s', (id, mode) => {
    const offer = offerRemediation(id, { workflowId: 'run-r-1' }, mode);
    expect(offer).toEqual({
      id,
      ...remediationCatalog[id],
      target: { workflowId: 'run-r-1' },
      // Only auto runs anything unattended, and only low-risk remediations that need no approval.
      autoExecutable: mode === 'auto' && autoInAuto.includes(id),
    });
  });
});
