import type { RemediationId, RemediationOffer, RemediationRisk, SelfHealingMode } from './types';

export interface RemediationSpec {
  label: string;
  risk: RemediationRisk;
  /** Who or what the action touches, in words. */
  blastRadius: string;
  /** Must a person approve it, whatever the mode? */
  requiresApproval: boolean;
  /**
   * Does success end the problem? `page` only tells a person: its incident stays open, without paging
   * again, until the evidence clears or an SRE resolves it.
   */
  fixesProblem: boolean;
}

/** What each remediation does, how risky it is and whether a person must approve it (issue 11, Detectors). */
export const remediationCatalog: Record<RemediationId, RemediationSpec> = {
  fail_attempt: {
    label: 'Fail the stalled provider attempt so Temporal retries it',
    risk: 'low',
    blastRadius: 'one provider attempt of one run or task; it pays for the tokens it streamed',
    requiresApproval: false,
    fixesProblem: true,
  },
  open_provider_circuit: {
    label: "Open the provider's circuit",
    risk: 'medium',
    blastRadius: 'every run that would use this provider is routed around it for a while',
    requiresApproval: true,
    fixesProblem: true,
  },
  page: {
    label: 'Page the on-call engineer',
    risk: 'low',
    blastRadius: 'records and alerts; nothing to auto-fix',
    requiresApproval: false,
    fixesProblem: false,
  },
  reset_workflow: {
    label: 'Reset the workflow to its last good workflow task',
    risk: 'high',
    blastRadius: 'one workflow: the events after the reset point are discarded and its activities may run again',
    requiresApproval: true,
    fixesProblem: true,
  },
  release_reservation: {
    label: 'Release the orphaned hold, charging what its history shows was consumed',
    risk: 'low',
    blastRadius: 'one budget reservation of a workflow that is no longer running',
    requiresApproval: false,
    fixesProblem: true,
  },
  deny_approval: {
    label: 'Deny the pending approval',
    risk: 'medium',
    blastRadius: 'one run: it ends denied',
    requiresApproval: true,
    fixesProblem: true,
  },
  cancel_run: {
    label: 'Cancel the run',
    risk: 'medium',
    blastRadius: 'one run and the background tasks it waits for; what it streamed is charged',
    requiresApproval: true,
    fixesProblem: true,
  },
  terminate_and_settle: {
    label: 'Terminate the workflow and settle its books',
    risk: 'high',
    blastRadius: 'one run or task: terminated without its own cleanup; its hold is settled from its history',
    requiresApproval: true,
    fixesProblem: true,
  },
  pause_tenant: {
    label: 'Pause the tenant',
    risk: 'high',
    blastRadius: 'every new run of the tenant answers 503 until it is resumed',
    requiresApproval: true,
    fixesProblem: true,
  },
};

/**
 * May a remediation run without a person? Only in `auto`, and only when it is low-risk and does not
 * require approval; in `observe_only` (and `disabled`) every remediation waits for a person.
 */
export function isAutoExecutable(id: RemediationId, mode: SelfHealingMode): boolean {
  const spec = remediationCatalog[id];
  return mode === 'auto' && spec.risk === 'low' && !spec.requiresApproval;
}

/** The offer a finding carries: the catalog entry, what it acts on, and whether it may run unattended. */
export function offerRemediation(id: RemediationId, target: RemediationOffer['target'], mode: SelfHealingMode): RemediationOffer {
  const spec = remediationCatalog[id];
  return { id, ...spec, autoExecutable: isAutoExecutable(id, mode), target };
}
