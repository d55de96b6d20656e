import { proxyActivities } from '@temporalio/workflow';
import type { IncidentActivities } from '../activities/incidents';
import type { createSupervisorEvidenceActivities } from '../activities/supervisor-evidence';
import { evaluatedDetectors, runDetectors } from '../domain/self-healing';
import type { SupervisorTickResult, SupervisorWorkflowInput } from '../temporal/contracts';

/**
 * One supervisor tick, started by the `palyra-supervisor` schedule (overlap SKIP) on the supervisor
 * task queue: gather the evidence, run the pure detectors over it (so what was seen and what was
 * concluded are both in this history), then open or refresh an incident per finding and tell open
 * incidents whose evidence cleared. A tick is short and never retried as a whole: the next one comes
 * within an interval.
 */
const { gatherEvidence } = proxyActivities<ReturnType<typeof createSupervisorEvidenceActivities>>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 2 },
});
const { reportFindings } = proxyActivities<IncidentActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

export async function supervisorWorkflow(input: SupervisorWorkflowInput): Promise<SupervisorTickResult> {
  const startedAt = Date.now();
  const evidence = await gatherEvidence({ runTaskQueue: input.runTaskQueue, supervisorTaskQueue: input.supervisorTaskQueue });
  return reportFindings({
    startedAt,
    observedAt: evidence.observedAt,
    findings: runDetectors(evidence, input.settings),
    evaluated: evaluatedDetectors(evidence, input.settings),
    unavailable: evidence.unavailable,
  });
}
