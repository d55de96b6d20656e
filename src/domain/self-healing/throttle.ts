import type { RemediationAttempt } from './types';

/**
 * The installation-wide gate in front of every remediation (issue 11, Modes): a throttle of
 * `maxPerMinute` actions over the last 60 s, and a circuit breaker that opens after
 * `consecutiveFailures` failed actions in a row and stays open `openMs` after the last of them.
 * Skipped attempts did nothing, so they count for neither. After the breaker closes one action is
 * let through; if it fails too, the breaker opens again from that failure (half-open).
 */

export const throttleWindowMs = 60_000;

export interface RemediationRecord {
  /** Epoch ms. */
  at: number;
  status: RemediationAttempt['status'];
}

export interface RemediationGateInput {
  now: number;
  /** Recent remediation outcomes of the whole installation, in any order. */
  recent: readonly RemediationRecord[];
  maxPerMinute: number;
  breaker: { consecutiveFailures: number; openMs: number };
}

export type RemediationGateDecision = { allowed: true } | { allowed: false; reason: string };

export function remediationGate({ now, recent, maxPerMinute, breaker }: RemediationGateInput): RemediationGateDecision {
  const outcomes = recent.filter((record) => record.status !== 'skipped').sort((a, b) => a.at - b.at);

  const streak = outcomes.slice(-breaker.consecutiveFailures);
  const lastFailure = streak[streak.length - 1];
  if (
    lastFailure !== undefined &&
    streak.length === breaker.consecutiveFailures &&
    streak.every((record) => record.status === 'failed') &&
    now - lastFailure.at < breaker.openMs
  ) {
    return {
      allowed: false,
      reason:
        `circuit open: ${breaker.consecutiveFailures} consecutive failed remediations, ` +
        `closes at ${new Date(lastFailure.at + breaker.openMs).toISOString()}`,
    };
  }

  const inWindow = outcomes.filter((record) => now - record.at < throttleWindowMs).length;
  if (inWindow >= maxPerMinute) {
    return { allowed: false, reason: `throttled: ${inWindow} remediations in the last minute (limit ${maxPerMinute})` };
  }
  return { allowed: true };
}
