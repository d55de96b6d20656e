import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { offerRemediation, type Finding, type SelfHealingMode } from '../../src/domain/self-healing';
import {
  incidentObservedSignal,
  incidentWorkflowId,
  incidentWorkflowType,
  type IncidentWorkflowInput,
} from '../../src/temporal/contracts';
import { bearer, testTokens } from './app';

/** A run of `tenantId` parked for approval too long: its remediation (deny_approval) always needs a person. */
export function approvalWaitingFinding(tenantId: string): Finding {
  const runId = randomUUID();
  return {
    detector: 'approval_waiting',
    dedupeKey: runId,
    severity: 'low',
    summary: `run ${runId} has waited for approval for 12 min (threshold 10 min)`,
    subject: { kind: 'run', id: runId },
    tenantId,
    evidence: { runId, workflowId: `run-${runId}`, waitingForMs: 720_000, afterMs: 600_000 },
    remediation: offerRemediation('deny_approval', { runId, workflowId: `run-${runId}` }, 'observe_only'),
  };
}

/** An installation-wide incident (no tenant): a task queue nobody polls; `page` waits for a person in observe_only. */
export function noPollersFinding(): Finding {
  const taskQueue = `nobody-${randomUUID()}`;
  return {
    detector: 'no_pollers',
    dedupeKey: taskQueue,
    severity: 'critical',
    summary: `task queue ${taskQueue} has had no poller for 2 min`,
    subject: { kind: 'task_queue', id: taskQueue },
    evidence: { taskQueue, afterMs: 60_000 },
    remediation: offerRemediation('page', { taskQueue }, 'observe_only'),
  };
}

/** Opens an incident the way the supervisor does: signal-with-start of `incident-<16 hex>` with the finding. */
export async function openIncident(
  client: Client,
  taskQueue: string,
  finding: Finding,
  mode: SelfHealingMode = 'observe_only',
): Promise<string> {
  const incidentId = `incident-${randomBytes(8).toString('hex')}`;
  const at = new Date().toISOString();
  const input: IncidentWorkflowInput = { incidentId, finding, mode, openedAt: at };
  await client.workflow.signalWithStart(incidentWorkflowType, {
    workflowId: incidentWorkflowId(incidentId),
    taskQueue,
    args: [input],
    signal: incidentObservedSignal,
    signalArgs: [{ finding, mode, at }],
  });
  return incidentId;
}

/** Polls `GET /v1/incidents/:incidentId` until `predicate` holds; returns the incident. */
export async function waitForIncident(
  app: FastifyInstance,
  incidentId: string,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the incident as JSON, asserted field by field
  predicate: (incident: any) => boolean,
  what: string,
  token = testTokens.admin,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
): Promise<any> {
  let last: unknown;
  for (let i = 0; i < 200; i++) {
    const response = await app.inject({ method: 'GET', url: `/v1/incidents/${incidentId}`, headers: bearer(token) });
    last = response.json();
    if (response.statusCode === 200 && predicate(last)) return last;
    await delay(100);
  }
  throw new Error(`incident ${incidentId} never became ${what}; last answer ${JSON.stringify(last)}`);
}
