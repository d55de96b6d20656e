import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { PalyraConfig } from '../config';
import {
  detectorModeOf,
  detectors,
  type DetectorName,
  type Finding,
  type IncidentDocument,
  type SupervisorEvidence,
} from '../domain/self-healing';
import type { LedgerRepository } from '../ledger';
import {
  incidentClearedSignal,
  incidentMemoKey,
  incidentObservedSignal,
  incidentSearchAttributes,
  incidentWorkflowId,
  incidentWorkflowIdPrefix,
  incidentWorkflowType,
  type IncidentWorkflowInput,
  type RemediationRequest,
  type RemediationResult,
  type SupervisorTickResult,
} from '../temporal/contracts';
import { temporalUiLink } from '../temporal/client';
import { quoteValue } from '../temporal/visibility-query';
import { mapBounded } from '../util/concurrency';
import type { GatherEvidenceInput } from './supervisor-evidence';
import { createRemediations, type RemediationOutcome } from './remediations';

/** `incident-<first 16 hex of sha256(detector + ':' + dedupeKey)>`: stable across restarts, one per problem. */
export function incidentIdOf(detector: DetectorName, dedupeKey: string): string {
  return `${incidentWorkflowIdPrefix}${createHash('sha256').update(`${detector}:${dedupeKey}`).digest('hex').slice(0, 16)}`;
}

/** How often a remediation heartbeats (the workflow's heartbeat timeout is 20 s). */
const remediationHeartbeatMs = 5_000;

/** Heartbeats when running as an activity; a no-op when called directly (tests). */
function heartbeat(): void {
  try {
    Context.current().heartbeat();
  } catch {
    // Not inside an activity.
  }
}

/** Signals a tick sends at once. */
const signalConcurrency = 8;
/** At most this many open incidents are read per tick to tell which ones cleared. */
const openIncidentsReadLimit = 500;

export interface IncidentActivityDeps {
  client: Client;
  ledger: LedgerRepository;
  config: PalyraConfig;
  /** One tick's evidence (src/activities/supervisor-evidence.ts); the remediation re-checks with it. */
  gatherEvidence(input: GatherEvidenceInput): Promise<SupervisorEvidence>;
  temporalUiUrl?: string;
  logger?: Pick<Logger, 'error' | 'warn' | 'info'>;
}

export interface ReportFindingsInput {
  observedAt: number;
  startedAt: number;
  findings: Finding[];
  /** The detectors that ran this tick: only their incidents can clear. */
  evaluated: DetectorName[];
  unavailable: SupervisorEvidence['unavailable'];
}

export type IncidentActivities = ReturnType<typeof createIncidentActivities>;

/**
 * The supervisor's and the incidents' side effects: opening and refreshing incident workflows,
 * telling open ones their evidence cleared, and acting on a remediation behind the evidence re-check
 * and the installation-wide throttle and breaker kept in the ledger.
 */
export function createIncidentActivities(deps: IncidentActivityDeps) {
  const { client, ledger, config } = deps;
  const namespace = config.temporal.namespace;
  const queues: GatherEvidenceInput = {
    runTaskQueue: config.temporal.taskQueue,
    supervisorTaskQueue: config.temporal.supervisorTaskQueue,
  };
  const remediations = createRemediations({ client, ledger, config, ...(deps.logger ? { logger: deps.logger } : {}) });

  return {
    /**
     * Signal-with-start of each finding's incident (a new one opens, an open one refreshes its
     * evidence), then `evidenceCleared` to every open incident of a detector that ran and did not find
     * it again. Records the tick in the ledger (diagnostics and the tick-duration metric read it).
     */
    async reportFindings(input: ReportFindingsInput): Promise<SupervisorTickResult> {
      const at = new Date(input.observedAt).toISOString();
      const byDetector: SupervisorTickResult['byDetector'] = {};
      const found = new Set<string>();
      // In parallel (bounded): a tick that finds many problems must not outlast its interval.
      await mapBounded(input.findings, signalConcurrency, async (finding) => {
        const incidentId = incidentIdOf(finding.detector, finding.dedupeKey);
        found.add(incidentId);
        const mode = detectorModeOf(config.selfHealing, finding.detector);
        const uiUrl = temporalUiLink(deps.temporalUiUrl, namespace, incidentWorkflowId(incidentId)) ?? undefined;
        const workflowInput: IncidentWorkflowInput = {
          incidentId,
          finding,
          mode,
          openedAt: at,
          ...(uiUrl !== undefined ? { uiUrl } : {}),
        };
        await client.workflow.signalWithStart(incidentWorkflowType, {
          workflowId: incidentWorkflowId(incidentId),
          taskQueue: config.temporal.supervisorTaskQueue,
          args: [workflowInput],
          signal: incidentObservedSignal,
          signalArgs: [{ finding, mode, at }],
          // An incident that ended (resolved) and is found again is a new occurrence under the same id.
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        });
        byDetector[finding.detector] = (byDetector[finding.detector] ?? 0) + 1;
        Context.current().heartbeat();
      });

      let cleared = 0;
      const gone = (await openIncidents(input.evaluated)).filter((incident) => !found.has(incident.incidentId));
      await mapBounded(gone, signalConcurrency, async (incident) => {
        const detail = `${incident.detector} no longer finds ${incident.dedupeKey}`;
        try {
          await client.workflow.getHandle(incidentWorkflowId(incident.incidentId)).signal(incidentClearedSignal, { at, detail });
          cleared++;
        } catch (error) {
          // It ended in the meantime: nothing to clear.
          if (!(error instanceof WorkflowNotFoundError)) throw error;
        }
      });

      const result: SupervisorTickResult = {
        observedAt: at,
        findings: input.findings.length,
        byDetector,
        cleared,
        unavailable: input.unavailable,
      };
      await ledger.recordSupervisorTick({
        startedAt: new Date(input.startedAt),
        durationMs: Date.now() - input.startedAt,
        findings: input.findings.length,
        result,
      });
      return result;
    },

    /**
     * Acts on an incident's remediation, at most once per `slotId`:
     * 1. a slot taken by an earlier try of this activity (its worker died) is never acted on again: its
     *    outcome stands, or, still pending, the evidence decides whether the interrupted action took;
     * 2. the evidence is gathered afresh: a problem that is gone is skipped (`evidence_cleared`);
     * 3. the ledger's throttle and breaker give a slot or a reason to skip (`gated`);
     * 4. the remediation acts and its outcome is recorded in the slot.
     */
    async remediateIncident(request: RemediationRequest): Promise<RemediationResult> {
      // Heartbeats say the worker is alive: only a lost worker's attempt times out and is retried
      // (and a retry finds its slot taken), never a slow but live remediation.
      const keepAlive = setInterval(heartbeat, remediationHeartbeatMs);
      try {
        return await remediate(request);
      } finally {
        clearInterval(keepAlive);
      }
    },
  };

  async function remediate(request: RemediationRequest): Promise<RemediationResult> {
    const previous = await ledger.remediationSlot(request.slotId);
    if (previous && previous.status !== 'pending') {
      return {
        status: previous.status,
        detail: previous.detail,
        ...(previous.status === 'skipped' ? { skipCause: 'gated' as const } : {}),
      };
    }

    const recheck = await stillFound(request);
    if (previous) {
      const outcome: RemediationOutcome = recheck.found
        ? {
            status: 'failed',
            detail:
              'the attempt was interrupted (its worker was lost mid-action) and is not repeated, so it cannot act twice; ' +
              'the problem is still there: retry to act again',
          }
        : { status: 'succeeded', detail: `the interrupted attempt took effect: ${recheck.detail}` };
      return (await ledger.finishRemediation(request.slotId, outcome)) && outcome;
    }
    if (!recheck.found) {
      const detail = `nothing done: ${recheck.detail}`;
      await ledger.recordSkippedRemediation({ ...skipOf(request), detail });
      return { status: 'skipped', detail, skipCause: recheck.cause };
    }

    const claim = await ledger.claimRemediationSlot({
      incidentId: request.incidentId,
      remediationId: request.remediation.id,
      by: request.by,
      maxPerMinute: config.selfHealing.maxRemediationsPerMinute,
      breaker: config.selfHealing.circuitBreaker,
      slotId: request.slotId,
    });
    if (!claim.allowed) {
      await ledger.recordSkippedRemediation({ ...skipOf(request), detail: claim.reason });
      return { status: 'skipped', detail: claim.reason, skipCause: 'gated' };
    }

    let outcome: RemediationOutcome;
    try {
      outcome = await remediations.act(request, recheck.finding);
    } catch (error) {
      outcome = { status: 'failed', detail: (error as Error).message };
    }
    await ledger.finishRemediation(request.slotId, outcome);
    deps.logger?.info({ incidentId: request.incidentId, remediation: request.remediation.id, ...outcome }, 'remediation');
    return outcome;
  }

  function skipOf(request: RemediationRequest) {
    return { incidentId: request.incidentId, remediationId: request.remediation.id, by: request.by, slotId: request.slotId };
  }

  /** Re-reads the evidence and runs the incident's detector on it: is the same problem still there? */
  async function stillFound(
    request: RemediationRequest,
  ): Promise<{ found: true; finding: Finding } | { found: false; detail: string; cause: 'evidence_cleared' | 'gated' }> {
    const evidence = await deps.gatherEvidence(queues);
    const definition = detectors[request.detector];
    const missing = definition.sources.filter((source) => evidence.unavailable[source] !== undefined);
    if (missing.length > 0) {
      // Unconfirmed is not acted on, and not resolved either: the next observation tries again.
      const reasons = missing.map((source) => `${source}: ${evidence.unavailable[source]}`).join('; ');
      return { found: false, detail: `the evidence could not be re-checked (${reasons})`, cause: 'gated' };
    }
    const findings = (definition.detect as (e: SupervisorEvidence, s: unknown, m: string) => Finding[])(
      evidence,
      config.selfHealing.detectors[request.detector],
      detectorModeOf(config.selfHealing, request.detector),
    );
    const finding = findings.find((candidate) => candidate.dedupeKey === request.dedupeKey);
    if (finding) return { found: true, finding };
    return {
      found: false,
      detail: `re-checked before acting: ${request.detector} no longer finds it`,
      cause: 'evidence_cleared',
    };
  }

  /** Open incidents of these detectors on this installation's supervisor queue, from visibility. */
  async function openIncidents(evaluated: DetectorName[]): Promise<IncidentDocument[]> {
    if (evaluated.length === 0) return [];
    const query = [
      `WorkflowType = '${incidentWorkflowType}'`,
      `ExecutionStatus = 'Running'`,
      `TaskQueue = ${quoteValue(config.temporal.supervisorTaskQueue)}`,
      `${incidentSearchAttributes.detector.name} IN (${evaluated.map((name) => `'${name}'`).join(', ')})`,
    ].join(' AND ');
    const open: IncidentDocument[] = [];
    for await (const execution of client.workflow.list({ query, pageSize: 100 })) {
      // Resolved ones still running wait out a person's decision (see decidedQuietMs): told too, they end.
      const document = execution.memo?.[incidentMemoKey] as IncidentDocument | undefined;
      if (document) open.push(document);
      if (open.length >= openIncidentsReadLimit) break;
    }
    return open;
  }
}
