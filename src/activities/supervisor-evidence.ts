import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { LedgerRepository } from '../ledger';
import type {
  EvidenceSource,
  FailingWorkflowEvidence,
  OpenWorkflowEvidence,
  PendingActivityEvidence,
  PendingReservationEvidence,
  StreamProgressEvidence,
  SupervisorEvidence,
  TaskQueueEvidence,
  TenantSpendEvidence,
} from '../domain/self-healing';
import {
  backgroundTaskWorkflowId,
  backgroundTaskWorkflowType,
  runMemoKey,
  runWorkflowId,
  runWorkflowType,
  searchAttributes,
  taskMemoKey,
  type BackgroundTaskProgress,
  type ProviderHeartbeat,
  type RunSummary,
} from '../temporal/contracts';
import { quoteValue } from '../temporal/visibility-query';
import { mapBounded } from '../util/concurrency';

/** At most this many run and task workflows are described per tick (oldest-started first are not preferred: visibility order). */
export const maxWorkflowsPerTick = 200;
/** Other open workflows (supervisor ticks, incidents) scanned per tick for failing workflow tasks. */
export const maxOtherWorkflowsPerTick = 50;
/** At most this many pending holds are checked per tick (oldest first). */
export const maxReservationsPerTick = 200;
/** Describes in flight at once, so one tick never floods the frontend. */
const describeConcurrency = 8;
/** Each source gives up this long after the tick began; its evidence is then `unavailable`. */
const sourceDeadlineMs = 5_000;
/**
 * History reads (reset points, when a state was entered) are bounded twice: this many workflows
 * per tick, and this many of the newest events each, read newest first.
 */
const maxHistoryReadsPerTick = 20;
const historyPageSize = 100;
const maxHistoryPages = 2;
/** The provider activity whose heartbeat carries stream progress (see `createProviderActivities`). */
const providerActivityType = 'invokeProvider';
/**
 * A hold made this long before the owner's current execution started belongs to an earlier one
 * (a task re-dispatched under the same workflow id). Generous, because the two clocks differ and
 * a live hold taken for orphaned would be released.
 */
const ownerClockSkewMs = 60_000;

const { EventType, PendingActivityState, TaskQueueType, TaskQueueKind } = temporal.api.enums.v1;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Timestamp = { seconds?: { toNumber(): number } | number | null; nanos?: number | null } | null | undefined;

export interface SupervisorEvidenceDeps {
  client: Client;
  ledger: Pick<LedgerRepository, 'pendingReservationsForSupervisor' | 'tenantSpendRates'>;
  namespace: string;
}

export interface GatherEvidenceInput {
  runTaskQueue: string;
  supervisorTaskQueue: string;
}

/** A run or task workflow as described this tick. */
interface Described {
  kind: 'run' | 'task';
  description: WorkflowExecutionDescription;
}

/**
 * The supervisor's eyes (docs/architecture.md, Self-healing): one tick's evidence from Temporal
 * (open runs and tasks, failing workflow tasks, pollers) and from the ledger (pending holds, spend).
 * Every source is read on its own, bounded and under its own deadline; one that fails is named in
 * `unavailable` with its list left empty, so the detectors over it neither find nor clear anything.
 */
export function createSupervisorEvidenceActivities({ client, ledger, namespace }: SupervisorEvidenceDeps) {
  const service = client.workflowService;
  const { payloadConverter, payloadCodecs } = client.options.loadedDataConverter;

  async function decodePayload<T>(payload: Payload | null | undefined): Promise<T | undefined> {
    if (!payload) return undefined;
    let decoded = [payload];
    for (const codec of [...payloadCodecs].reverse()) decoded = await codec.decode(decoded);
    return decoded[0] ? payloadConverter.fromPayload<T>(decoded[0]) : undefined;
  }

  /** The open executions a visibility query finds, at most `limit`. */
  async function listOpen(query: string, limit: number): Promise<{ workflowId: string; runId: string; type: string }[]> {
    const found: { workflowId: string; runId: string; type: string }[] = [];
    if (limit <= 0) return found;
    for await (const info of client.workflow.list({ query, pageSize: Math.min(limit, 100) })) {
      found.push({ workflowId: info.workflowId, runId: info.runId, type: info.type });
      if (found.length >= limit) break;
    }
    return found;
  }

  /** An execution's description, or undefined once it has closed or gone (it closed after the listing). */
  async function describeOpen(workflowId: string, runId?: string): Promise<WorkflowExecutionDescription | undefined> {
    try {
      const description = await client.workflow.getHandle(workflowId, runId).describe();
      return description.status.name === 'RUNNING' ? description : undefined;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw error;
    }
  }

  /** Newest events first, at most `maxHistoryPages` pages, until `visit` returns true. */
  async function scanHistoryBackwards(
    workflowId: string,
    runId: string,
    visit: (event: HistoryEvent) => Promise<boolean> | boolean,
  ): Promise<void> {
    let nextPageToken: Uint8Array | undefined;
    for (let page = 0; page < maxHistoryPages; page++) {
      const response = await service.getWorkflowExecutionHistoryReverse({
        namespace,
        execution: { workflowId, runId },
        maximumPageSize: historyPageSize,
        ...(nextPageToken ? { nextPageToken } : {}),
      });
      for (const event of response.history?.events ?? []) {
        if (await visit(event)) return;
      }
      if (!response.nextPageToken?.length) return;
      nextPageToken = response.nextPageToken;
    }
  }

  /** When the run entered `awaiting_approval`: the earliest of the newest upserts that set it. */
  async function awaitingApprovalSince(workflowId: string, runId: string): Promise<number | undefined> {
    let since: number | undefined;
    await scanHistoryBackwards(workflowId, runId, async (event) => {
      const fields = event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
      const payload = fields?.[searchAttributes.runState.name];
      if (payload) {
        if ((await decodePayload<string>(payload)) !== 'awaiting_approval') return true;
        since = msOf(event.eventTime);
      }
      return event.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED;
    });
    return since;
  }

  /** When the execution was first asked to cancel (within the events read). */
  async function cancelRequestedSince(workflowId: string, runId: string): Promise<number | undefined> {
    let since: number | undefined;
    await scanHistoryBackwards(workflowId, runId, (event) => {
      if (event.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED) since = msOf(event.eventTime);
      return event.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED;
    });
    return since;
  }

  /** The last failed workflow task's message and the last one that completed (the reset point). */
  async function workflowTaskFailure(
    workflowId: string,
    runId: string,
  ): Promise<{ failure?: string; lastGoodWorkflowTaskEventId?: number }> {
    let failure: string | undefined;
    let lastGood: number | undefined;
    await scanHistoryBackwards(workflowId, runId, (event) => {
      const failed = event.workflowTaskFailedEventAttributes;
      if (failed && failure === undefined) failure = failed.failure?.message ?? undefined;
      if (event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) {
        lastGood = Number(event.eventId);
        return true;
      }
      return false;
    });
    return {
      ...(failure !== undefined ? { failure } : {}),
      ...(lastGood !== undefined ? { lastGoodWorkflowTaskEventId: lastGood } : {}),
    };
  }

  async function pendingActivityOf(activity: temporal.api.workflow.v1.IPendingActivityInfo): Promise<PendingActivityEvidence> {
    const activityType = activity.activityType?.name ?? '';
    const heartbeat =
      activityType === providerActivityType
        ? await decodePayload<Partial<ProviderHeartbeat>>(activity.heartbeatDetails?.payloads?.[0]).catch(() => undefined)
        : undefined;
    const progress = progressOf(heartbeat);
    const lastStartedAt = msOf(activity.lastStartedTime);
    const lastHeartbeatAt = msOf(activity.lastHeartbeatTime);
    const failure = activity.lastFailure;
    const failureType = failure ? applicationTypeOf(failure) : undefined;
    return {
      activityId: activity.activityId ?? '',
      activityType,
      attempt: activity.attempt ?? 1,
      state: activityStateOf(activity.state),
      ...(lastStartedAt !== undefined ? { lastStartedAt } : {}),
      ...(lastHeartbeatAt !== undefined ? { lastHeartbeatAt } : {}),
      ...(progress ? { progress } : {}),
      ...(typeof heartbeat?.providerId === 'string' ? { providerId: heartbeat.providerId } : {}),
      ...(failure
        ? { lastFailure: { message: failure.message ?? '', ...(failureType !== undefined ? { type: failureType } : {}) } }
        : {}),
    };
  }

  async function openWorkflowOf({ kind, description }: Described, canReadHistory: () => boolean): Promise<OpenWorkflowEvidence> {
    const { workflowId, runId } = description;
    const raw = description.raw;
    const runMemo = kind === 'run' ? (description.memo?.[runMemoKey] as Partial<RunSummary> | undefined) : undefined;
    const taskMemo =
      kind === 'task' ? (description.memo?.[taskMemoKey] as Partial<BackgroundTaskProgress> | undefined) : undefined;
    const state =
      kind === 'run' ? (description.typedSearchAttributes.get(searchAttributes.runState) ?? runMemo?.state) : taskMemo?.state;
    const tenantId = description.typedSearchAttributes.get(searchAttributes.tenant) ?? runMemo?.tenantId;
    const cancelRequested = raw.workflowExtendedInfo?.cancelRequested === true;

    // The memo says when a run was queued or began running; a wait for approval or a cancellation
    // is found in the history's newest events (bounded per tick; otherwise left unknown).
    let stateSince: number | undefined;
    if (cancelRequested) {
      stateSince = canReadHistory() ? await cancelRequestedSince(workflowId, runId) : undefined;
    } else if (state === 'awaiting_approval') {
      stateSince = canReadHistory() ? await awaitingApprovalSince(workflowId, runId) : undefined;
    } else if (state === 'running' && runMemo?.startedAt) {
      stateSince = Date.parse(runMemo.startedAt);
    } else if (state === 'queued' && runMemo?.createdAt) {
      stateSince = Date.parse(runMemo.createdAt);
    }

    return {
      kind,
      id: palyraIdOf(kind, workflowId, runMemo?.runId),
      workflowId,
      temporalRunId: runId,
      ...(tenantId !== undefined ? { tenantId } : {}),
      startedAt: description.startTime.getTime(),
      ...(state !== undefined ? { state } : {}),
      ...(stateSince !== undefined && !Number.isNaN(stateSince) ? { stateSince } : {}),
      cancelRequested,
      pendingActivities: await Promise.all((raw.pendingActivities ?? []).map(pendingActivityOf)),
    };
  }

  async function failingWorkflowsOf(descriptions: WorkflowExecutionDescription[]): Promise<FailingWorkflowEvidence[]> {
    const failing = descriptions.filter((d) => (d.raw.pendingWorkflowTask?.attempt ?? 0) >= 2);
    return mapBounded(failing, describeConcurrency, async (description, index) => ({
      workflowId: description.workflowId,
      temporalRunId: description.runId,
      workflowType: description.type,
      attempt: description.raw.pendingWorkflowTask?.attempt ?? 0,
      ...(index < maxHistoryReadsPerTick ? await workflowTaskFailure(description.workflowId, description.runId) : {}),
    }));
  }

  async function taskQueueOf(name: string, role: TaskQueueEvidence['role']): Promise<TaskQueueEvidence> {
    const responses = await Promise.all(
      [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY].map((taskQueueType) =>
        service.describeTaskQueue({
          namespace,
          taskQueue: { name, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          taskQueueType,
          reportStats: true,
        }),
      ),
    );
    const pollers = new Map<string, number | undefined>();
    for (const poller of responses.flatMap((r) => r.pollers ?? [])) {
      const identity = poller.identity ?? '';
      const at = msOf(poller.lastAccessTime);
      const seen = pollers.get(identity);
      pollers.set(identity, seen === undefined ? at : at === undefined ? seen : Math.max(seen, at));
    }
    const accessTimes = [...pollers.values()].filter((t): t is number => t !== undefined);
    const backlogs = responses.map((r) => r.stats?.approximateBacklogCount).filter((n) => n !== null && n !== undefined);
    return {
      name,
      role,
      pollers: [...pollers].map(([identity, lastAccessAt]) => ({
        identity,
        ...(lastAccessAt !== undefined ? { lastAccessAt } : {}),
      })),
      ...(accessTimes.length > 0 ? { lastPollAt: Math.max(...accessTimes) } : {}),
      ...(backlogs.length > 0 ? { backlog: backlogs.reduce<number>((sum, n) => sum + Number(n), 0) } : {}),
    };
  }

  async function pendingReservations(): Promise<PendingReservationEvidence[]> {
    const holds = await ledger.pendingReservationsForSupervisor({ limit: maxReservationsPerTick });
    const owners = [...new Set(holds.map((hold) => ownerWorkflowIdOfBooking(hold.bookingId)))];
    // Whether each owner runs, and since when its execution exists (a reset keeps the original start).
    const openSince = new Map<string, number | undefined>();
    await mapBounded(owners, describeConcurrency, async (workflowId) => {
      const description = await describeOpen(workflowId);
      const originalStart = msOf(description?.raw.workflowExtendedInfo?.originalStartTime);
      openSince.set(workflowId, description ? (originalStart ?? description.startTime.getTime()) : undefined);
    });
    return holds.map((hold) => {
      const ownerWorkflowId = ownerWorkflowIdOfBooking(hold.bookingId);
      const since = openSince.get(ownerWorkflowId);
      return {
        ...hold,
        ownerWorkflowId,
        ownerOpen: since !== undefined && hold.createdAt >= since - ownerClockSkewMs,
      };
    });
  }

  return {
    async gatherEvidence({ runTaskQueue, supervisorTaskQueue }: GatherEvidenceInput): Promise<SupervisorEvidence> {
      const observedAt = Date.now();
      const deadline = observedAt + sourceDeadlineMs;
      const withDeadline = <T>(fn: () => Promise<T>) => client.connection.withDeadline(deadline, fn);
      const queues = [...new Set([runTaskQueue, supervisorTaskQueue])].map(quoteValue).join(', ');
      const palyraTypes = [runWorkflowType, backgroundTaskWorkflowType].map(quoteValue).join(', ');

      // Described once, read by both `workflows` and `failingWorkflows`.
      const runsAndTasks = withDeadline(async () => {
        const open = await listOpen(
          `WorkflowType IN (${palyraTypes}) AND ExecutionStatus = 'Running' AND TaskQueue = ${quoteValue(runTaskQueue)}`,
          maxWorkflowsPerTick,
        );
        const described = await mapBounded(open, describeConcurrency, async ({ workflowId, runId, type }) => {
          const description = await describeOpen(workflowId, runId);
          return description ? [{ kind: type === runWorkflowType ? 'run' : 'task', description } as Described] : [];
        });
        return described.flat();
      });
      // Not awaited here: each source below reports its own failure.
      runsAndTasks.catch(() => undefined);

      const [workflows, failingWorkflows, taskQueues, reservations, tenantSpend] = await Promise.all([
        readSource('workflows', deadline, () =>
          withDeadline(async () => {
            let historyReads = 0;
            const canReadHistory = () => historyReads++ < maxHistoryReadsPerTick;
            return mapBounded(await runsAndTasks, describeConcurrency, (d) => openWorkflowOf(d, canReadHistory));
          }),
        ),
        readSource('failingWorkflows', deadline, () =>
          withDeadline(async () => {
            const others = await listOpen(
              `WorkflowType NOT IN (${palyraTypes}) AND ExecutionStatus = 'Running' AND TaskQueue IN (${queues})`,
              maxOtherWorkflowsPerTick,
            );
            const otherDescriptions = await mapBounded(others, describeConcurrency, ({ workflowId, runId }) =>
              describeOpen(workflowId, runId),
            );
            const described = [
              ...(await runsAndTasks).map((d) => d.description),
              ...otherDescriptions.filter((d): d is WorkflowExecutionDescription => d !== undefined),
            ];
            return failingWorkflowsOf(described);
          }),
        ),
        readSource('taskQueues', deadline, () =>
          withDeadline(() => Promise.all([taskQueueOf(runTaskQueue, 'runs'), taskQueueOf(supervisorTaskQueue, 'supervisor')])),
        ),
        readSource('pendingReservations', deadline, () => withDeadline(pendingReservations)),
        readSource('tenantSpend', deadline, async (): Promise<TenantSpendEvidence[]> => {
          const rates = await ledger.tenantSpendRates(new Date(observedAt));
          return rates.map(({ tenantId, lastHourMicroUsd, trailingDayMicroUsd }) => ({
            tenantId,
            lastHourMicroUsd,
            trailingDayMicroUsd,
          }));
        }),
      ]);

      const unavailable: SupervisorEvidence['unavailable'] = {};
      const valueOf = <T>(source: EvidenceSource, result: SourceResult<T>): T[] => {
        if ('error' in result) {
          unavailable[source] = result.error;
          return [];
        }
        return result.value;
      };
      return {
        observedAt,
        workflows: valueOf('workflows', workflows),
        taskQueues: valueOf('taskQueues', taskQueues),
        failingWorkflows: valueOf('failingWorkflows', failingWorkflows),
        pendingReservations: valueOf('pendingReservations', reservations),
        tenantSpend: valueOf('tenantSpend', tenantSpend),
        unavailable,
      };
    },
  };
}

type SourceResult<T> = { value: T[] } | { error: string };

/** One source, never failing the tick: an error or a missed deadline becomes a short message. */
async function readSource<T>(source: EvidenceSource, deadline: number, read: () => Promise<T[]>): Promise<SourceResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${source} not read within ${sourceDeadlineMs} ms`)),
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return { value: await Promise.race([read(), timeout]) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { error: `${source}: ${message.split('\n')[0]?.slice(0, 300) ?? 'failed'}` };
  } finally {
    clearTimeout(timer);
  }
}

/** `fn` over `items`, at most `limit` at a time, results in input order. */
/**
 * The workflow that holds a booking: a task attempt's booking is `<task workflow id>:<dispatch>.<attempt>`
 * (`taskAttemptBookingId`), anything else is a run id.
 */
export function ownerWorkflowIdOfBooking(bookingId: string): string {
  const taskPrefix = backgroundTaskWorkflowId('');
  const taskAttempt = /^(.+):[0-9]+\.[0-9]+$/.exec(bookingId);
  if (bookingId.startsWith(taskPrefix) && taskAttempt?.[1]) return taskAttempt[1];
  return runWorkflowId(bookingId);
}

function palyraIdOf(kind: 'run' | 'task', workflowId: string, memoRunId: string | undefined): string {
  if (kind === 'run' && memoRunId) return memoRunId;
  const prefix = kind === 'run' ? runWorkflowId('') : backgroundTaskWorkflowId('');
  return workflowId.startsWith(prefix) ? workflowId.slice(prefix.length) : workflowId;
}

function progressOf(heartbeat: Partial<ProviderHeartbeat> | undefined): StreamProgressEvidence | undefined {
  if (typeof heartbeat?.tokensSoFar !== 'number') return undefined;
  return {
    tokensSoFar: heartbeat.tokensSoFar,
    // Heartbeats recorded before `attempt` existed belong to the first attempt.
    attempt: typeof heartbeat.attempt === 'number' ? heartbeat.attempt : 1,
    ...(typeof heartbeat.progressAt === 'number' ? { progressAt: heartbeat.progressAt } : {}),
  };
}

function activityStateOf(state: temporal.api.enums.v1.PendingActivityState | null | undefined): PendingActivityEvidence['state'] {
  switch (state) {
    case PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED:
      return 'scheduled';
    case PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
      return 'started';
    case PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED:
      return 'cancel_requested';
    case PendingActivityState.PENDING_ACTIVITY_STATE_PAUSED:
    case PendingActivityState.PENDING_ACTIVITY_STATE_PAUSE_REQUESTED:
      return 'paused';
    default:
      return 'unknown';
  }
}

/** The first application failure type in the cause chain (a timeout wraps the attempt's own failure). */
function applicationTypeOf(failure: temporal.api.failure.v1.IFailure): string | undefined {
  for (let f: temporal.api.failure.v1.IFailure | null | undefined = failure, depth = 0; f && depth < 8; f = f.cause, depth++) {
    if (f.applicationFailureInfo?.type) return f.applicationFailureInfo.type;
  }
  return undefined;
}

/** A proto timestamp as epoch ms; undefined when absent. */
function msOf(ts: Timestamp): number | undefined {
  if (!ts || ts.seconds === null || ts.seconds === undefined) return undefined;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : ts.seconds.toNumber();
  return seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1_000_000);
}
