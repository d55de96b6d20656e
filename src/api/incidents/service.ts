import {
  QueryNotRegisteredError,
  QueryRejectedError,
  ServiceError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  isGrpcDeadlineError,
  type Client,
  type WorkflowExecutionDescription,
} from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { PalyraConfig } from '../../config';
import { PalyraError } from '../../domain/errors';
import { incidentStates, type DetectorName, type IncidentDocument, type Severity } from '../../domain/self-healing';
import { temporalUiLink } from '../../temporal/client';
import {
  incidentDecideUpdate,
  incidentMemoKey,
  incidentSearchAttributes,
  incidentStateQuery,
  incidentWorkflowId,
  incidentWorkflowType,
} from '../../temporal/contracts';
import type { Principal } from '../plugins/auth';
import type { CursorCodec } from '../runs/cursor';
import { incidentListQuery, quoteValue } from '../../temporal/visibility-query';
import type { IncidentActionBody, IncidentList, IncidentView, ListIncidentsQuery } from './schemas';

/** Temporal calls behind an HTTP request give up after this, so clients get a 503 rather than a hang. */
const temporalCallDeadlineMs = 10_000;
/** A live read waits this long for a worker before answering from the memo. */
const liveQueryDeadlineMs = 2_000;
/**
 * Visibility reads one listing may make for a tenant-scoped token (which filters what it reads):
 * bounds the work of a request; a page cut short still carries a cursor to the rest.
 */
const maxVisibilityReadsPerPage = 10;
/** `palyra_incidents_open` reads at most this many open incidents (the gauge undercounts beyond). */
export const openIncidentsReadLimit = 1_000;
/** Metrics scrapes must answer well within Prometheus's scrape timeout. */
const metricsDeadlineMs = 5_000;

export interface IncidentServiceDeps {
  client: Client;
  config: PalyraConfig;
  /** Base URL of the Temporal Web UI, for links. */
  temporalUiUrl: string | undefined;
  /** Authenticates list cursors. */
  cursors: CursorCodec;
}

export interface OpenIncidentCount {
  detector: DetectorName;
  severity: Severity;
  count: number;
}

export type IncidentService = ReturnType<typeof createIncidentService>;

/**
 * Incidents are workflows (`incident-<16 hex>`): lists come from visibility and their memo, a single
 * incident from its state query (or its memo), and decisions go to it as the `decideIncident` update,
 * whose validator refuses an illegal one.
 *
 * Tenant scoping: an incident of a tenant is visible to tokens of that tenant; an installation-wide
 * one (no tenant: task queues, failing workflows) only to all-tenant (`'*'`) tokens. Incidents carry
 * no tenant search attribute, so listings filter what they read (see `list`).
 */
export function createIncidentService({ client, config, temporalUiUrl, cursors }: IncidentServiceDeps) {
  const namespace = config.temporal.namespace;

  const viewOf = (document: IncidentDocument, workflowId: string, executionRunId: string | null): IncidentView => ({
    ...document,
    temporal: {
      workflowId,
      runId: executionRunId,
      uiUrl: temporalUiLink(temporalUiUrl, namespace, workflowId, executionRunId ?? undefined) ?? document.temporal.uiUrl ?? null,
    },
  });

  /** The incident's workflow and its memo; 404 for an unknown incident or one this token cannot see. */
  async function locate(
    principal: Principal,
    incidentId: string,
  ): Promise<{ description: WorkflowExecutionDescription; memo: IncidentDocument | undefined }> {
    const notFound = () => new PalyraError('not_found', `incident ${incidentId} not found`);
    const handle = client.workflow.getHandle(incidentWorkflowId(incidentId));
    const description = await withDeadline(() => handle.describe()).catch((error: unknown) => {
      if (error instanceof WorkflowNotFoundError) throw notFound();
      throw error;
    });
    if (description.type !== incidentWorkflowType) throw notFound();
    const memo = description.memo?.[incidentMemoKey] as IncidentDocument | undefined;
    // Before its first workflow task an incident may have no memo yet: its tenant is unknown, so only
    // an all-tenant token may see it (and reads it live).
    if (memo ? !canSee(principal, memo) : !principal.tenants.includes('*')) throw notFound();
    return { description, memo };
  }

  /**
   * Reads an incident live (its state query) while it runs; from its memo when it has ended, or when
   * no worker answers within `liveQueryDeadlineMs`.
   */
  async function get(principal: Principal, incidentId: string): Promise<IncidentView> {
    const { description, memo } = await locate(principal, incidentId);
    const live = description.status.name === 'RUNNING' ? await queryIncident(incidentId) : undefined;
    const document = live ?? memo;
    if (!document) {
      throw new PalyraError(
        'temporal_unavailable',
        `incident ${incidentId} has not been picked up by a worker yet; retry shortly`,
        {
          incidentId,
        },
      );
    }
    if (!canSee(principal, document)) throw new PalyraError('not_found', `incident ${incidentId} not found`);
    return viewOf(document, description.workflowId, description.runId);
  }

  async function queryIncident(incidentId: string): Promise<IncidentDocument | undefined> {
    const handle = client.workflow.getHandle(incidentWorkflowId(incidentId));
    return client.connection
      .withDeadline(Date.now() + liveQueryDeadlineMs, () => handle.query(incidentStateQuery))
      .catch((error: unknown) => {
        // No worker in time, none polling, closed in the meantime, or the query failed on the worker.
        if (isGrpcDeadlineError(error) || error instanceof ServiceError || error instanceof WorkflowNotFoundError) {
          return undefined;
        }
        if (error instanceof QueryNotRegisteredError || error instanceof QueryRejectedError) return undefined;
        throw error;
      });
  }

  /**
   * Lists incidents through visibility, newest first. An all-tenant token reads one page of `limit`.
   * A tenant-scoped one drops what it may not see, so it reads on — each time at most as many as its
   * page still lacks, so nothing read is ever skipped — until the page is full, visibility ends, or
   * `maxVisibilityReadsPerPage` reads were made; the cursor continues right after the last one read.
   */
  async function list(principal: Principal, filter: ListIncidentsQuery): Promise<IncidentList> {
    const query = incidentListQuery(filter);
    const allTenants = principal.tenants.includes('*');
    const items: IncidentView[] = [];
    let pageToken: Uint8Array | undefined = filter.cursor ? cursors.decode(filter.cursor, query) : undefined;
    for (let read = 0; read < maxVisibilityReadsPerPage && items.length < filter.limit; read++) {
      const page = await withDeadline(() =>
        client.workflowService.listWorkflowExecutions({
          namespace,
          query,
          pageSize: filter.limit - items.length,
          nextPageToken: pageToken,
        }),
      );
      for (const execution of page.executions ?? []) {
        const payload = execution.memo?.fields?.[incidentMemoKey];
        const document = payload ? (defaultPayloadConverter.fromPayload(payload) as IncidentDocument) : undefined;
        // Without a memo the incident has not run yet; it is listed once it has.
        if (!document || !canSee(principal, document)) continue;
        items.push(viewOf(document, execution.execution?.workflowId ?? document.incidentId, execution.execution?.runId ?? null));
      }
      pageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
      if (!pageToken || allTenants) break;
    }
    return { items, nextCursor: pageToken ? cursors.encode(pageToken, query) : null };
  }

  /**
   * A person's decision (`by` the token's name), taken by the incident workflow through its update:
   * 409 with the validator's message (naming the state) when illegal, or when the incident's workflow
   * has ended. Answers the document as the decision left it.
   */
  async function decide(principal: Principal, incidentId: string, body: IncidentActionBody): Promise<IncidentView> {
    const { description, memo } = await locate(principal, incidentId);
    if (description.status.name !== 'RUNNING') throw endedIncidentError(incidentId, memo, description.status.name);
    const handle = client.workflow.getHandle(incidentWorkflowId(incidentId));
    const decision = { action: body.action, by: principal.tokenName, ...(body.note !== undefined ? { note: body.note } : {}) };
    const document = await withDeadline(() => handle.executeUpdate(incidentDecideUpdate, { args: [decision] })).catch(
      async (error: unknown) => {
        if (error instanceof WorkflowUpdateFailedError) {
          throw new PalyraError('conflict', error.cause?.message ?? error.message, { incidentId, action: body.action });
        }
        if (error instanceof WorkflowNotFoundError) {
          // It ended between the describe and the update.
          const ended = await locate(principal, incidentId);
          throw endedIncidentError(incidentId, ended.memo, ended.description.status.name);
        }
        throw error;
      },
    );
    return viewOf(document, description.workflowId, description.runId);
  }

  /**
   * Open incidents (any state but resolved, in a running workflow) by detector and severity, for the
   * `palyra_incidents_open` gauge: reads at most `openIncidentsReadLimit` of them.
   */
  async function openCounts(): Promise<OpenIncidentCount[]> {
    const openStates = incidentStates.filter((state) => state !== 'resolved');
    const query = [
      `WorkflowType = ${quoteValue(incidentWorkflowType)}`,
      `ExecutionStatus = 'Running'`,
      `${incidentSearchAttributes.state.name} IN (${openStates.map(quoteValue).join(', ')})`,
    ].join(' AND ');
    const counts = new Map<string, OpenIncidentCount>();
    await client.connection.withDeadline(Date.now() + metricsDeadlineMs, async () => {
      let read = 0;
      for await (const execution of client.workflow.list({ query, pageSize: 100 })) {
        const detector = execution.typedSearchAttributes.get(incidentSearchAttributes.detector) as DetectorName | undefined;
        const severity = execution.typedSearchAttributes.get(incidentSearchAttributes.severity) as Severity | undefined;
        if (detector && severity) {
          const key = `${detector}/${severity}`;
          const entry = counts.get(key) ?? { detector, severity, count: 0 };
          counts.set(key, { ...entry, count: entry.count + 1 });
        }
        if (++read >= openIncidentsReadLimit) break;
      }
    });
    return [...counts.values()];
  }

  function withDeadline<T>(call: () => Promise<T>): Promise<T> {
    return client.connection.withDeadline(Date.now() + temporalCallDeadlineMs, call);
  }

  return { get, list, decide, openCounts };
}

/** An incident's tenant decides who sees it; one without a tenant is installation-wide. */
function canSee(principal: Principal, document: Pick<IncidentDocument, 'tenantId'>): boolean {
  if (principal.tenants.includes('*')) return true;
  return document.tenantId !== undefined && principal.tenants.includes(document.tenantId);
}

/** A decision for an incident whose workflow has ended: it takes none any more. */
function endedIncidentError(incidentId: string, memo: IncidentDocument | undefined, status: string): PalyraError {
  const state = memo?.state ?? 'unknown';
  const message =
    state === 'resolved'
      ? `incident ${incidentId} is resolved${memo?.resolution ? ` (${memo.resolution})` : ''}; it takes no more decisions`
      : `incident ${incidentId} is ${state} but its workflow has ended (${status.toLowerCase()}); it takes no more decisions`;
  return new PalyraError('conflict', message, { incidentId, state, workflowStatus: status });
}
