/**
 * Where the time of a `POST /v1/runs` goes, measured from outside the product's code: the benchmark
 * stamps the HTTP request, a client interceptor stamps the update-with-start (or, admitted in the
 * API, the start) call, wrappers stamp the routing and admission calls and time every ledger call,
 * and the run's history gives the server's side (execution started, workflow task started and
 * completed). All stamps are
 * wall-clock milliseconds on one machine, so the server's event times line up with the process's.
 */
import type { Client, WorkflowClientInterceptor } from '@temporalio/client';
import { tsToMs } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { PalyraActivities } from '../../src/activities';
import type { LedgerRepository } from '../../src/ledger';
import { bookingIdOf, type RecordedBookingInput } from '../../src/temporal/contracts';
import { percentile } from '../results';
import type { BenchInstruments } from './stack';

const EventType = temporal.api.enums.v1.EventType;

/**
 * The contiguous phases of one POST, in order; their sum is the HTTP round trip. A run the
 * workflow admits goes through `api` … `reply`; one admitted in the API process (`palyra dev`)
 * through `api`, `startCall`, `planRun`, `betweenLocal`, `admitRun`, `gap` and `reply`, its start and
 * its admission in whichever order the API makes them (`gap` is the time between the two).
 */
export const admissionPhases = [
  ['api', 'API before the first admission step (HTTP, auth, validation, gate)'],
  ['start', 'workflow: update-with-start sent → execution started on the server'],
  ['pickup', 'workflow: task waiting → picked up by the worker'],
  ['activation', 'workflow: task received → routing local activity starts'],
  ['planRun', 'routing (planRun)'],
  ['betweenLocal', 'routing result → admission starts'],
  ['admitRun', 'admission (admitRun, ledger reserve inside)'],
  ['complete', 'workflow: admission result → workflow task completed on the server'],
  ['answer', 'workflow: task completed → update answer back in the API'],
  ['startCall', 'in the API: workflow start sent → answered'],
  ['gap', 'in the API: between the start and the admission'],
  ['reply', 'API after the Temporal call (the reply)'],
] as const;

export type AdmissionPhase = (typeof admissionPhases)[number][0];

interface Span {
  start: number;
  end: number;
}

export interface HttpStamp {
  runId: string;
  sentAt: number;
  doneAt: number;
}

export interface PhaseBreakdown {
  samples: number;
  /** Runs admitted in the API process before they started. */
  inProcess: number;
  /** Runs whose update was answered by a later workflow task than the first. */
  laterTask: number;
  medianMs: Record<AdmissionPhase, number>;
  p90Ms: Record<AdmissionPhase, number>;
  medianTotalMs: number;
  /** Ledger calls made while recording, per method: count and latency. */
  ledger: Record<string, { calls: number; p50Ms: number; p99Ms: number }>;
}

export function createAdmissionTiming() {
  const rpc = new Map<string, Span>();
  const starts = new Map<string, Span>();
  const activities = new Map<string, Partial<Record<'planRun' | 'admitRun', Span>>>();
  const ledgerCalls = new Map<string, number[]>();
  let recording = false;

  const interceptor: WorkflowClientInterceptor = {
    async start(input, next) {
      const start = Date.now();
      try {
        return await next(input);
      } finally {
        if (recording) starts.set(input.options.workflowId, { start, end: Date.now() });
      }
    },
    async startUpdateWithStart(input, next) {
      const start = Date.now();
      try {
        return await next(input);
      } finally {
        if (recording) rpc.set(input.workflowStartOptions.workflowId, { start, end: Date.now() });
      }
    },
  };

  function timedActivity<K extends 'planRun' | 'admitRun'>(name: K, activity: PalyraActivities[K]): PalyraActivities[K] {
    const wrapped = async (input: RecordedBookingInput<{ bookingId: string }>) => {
      const start = Date.now();
      try {
        return await (activity as (input: unknown) => Promise<unknown>)(input);
      } finally {
        if (recording) {
          const id = bookingIdOf(input);
          // The first call is the decision; a later one (the workflow's, after the API decided) reads it back.
          const spans = activities.get(id) ?? {};
          if (!spans[name]) activities.set(id, { ...spans, [name]: { start, end: Date.now() } });
        }
      }
    };
    return wrapped as unknown as PalyraActivities[K];
  }

  const instruments: BenchInstruments = {
    clientInterceptors: [interceptor],
    activities: (all) => ({
      ...all,
      planRun: timedActivity('planRun', all.planRun),
      admitRun: timedActivity('admitRun', all.admitRun),
    }),
    ledger: (repo) =>
      new Proxy(repo, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver) as unknown;
          if (typeof value !== 'function' || typeof property !== 'string') return value;
          return (...args: unknown[]) => {
            const start = performance.now();
            const result = (value as (...a: unknown[]) => unknown).apply(target, args);
            if (!recording || !(result instanceof Promise)) return result;
            const record = () => ledgerCalls.set(property, [...(ledgerCalls.get(property) ?? []), performance.now() - start]);
            return result.finally(record);
          };
        },
      }) as LedgerRepository,
  };

  /** The phases of each stamped request whose history has its admission; medians and p90 per phase. */
  async function breakdown(client: Client, stamps: HttpStamp[]): Promise<PhaseBreakdown> {
    const perPhase = new Map<AdmissionPhase, number[]>(admissionPhases.map(([phase]) => [phase, []]));
    const totals: number[] = [];
    let laterTask = 0;
    let inProcess = 0;
    for (const stamp of stamps) {
      const workflowId = `run-${stamp.runId}`;
      const local = activities.get(stamp.runId);
      if (!local?.planRun || !local.admitRun) continue;
      const common = {
        api: local.planRun.start - stamp.sentAt,
        planRun: local.planRun.end - local.planRun.start,
        betweenLocal: local.admitRun.start - local.planRun.end,
        admitRun: local.admitRun.end - local.admitRun.start,
      };
      const started = starts.get(workflowId);
      const call = rpc.get(workflowId);
      let phases: Partial<Record<AdmissionPhase, number>>;
      if (started) {
        inProcess++;
        const startFirst = started.start <= local.planRun.start;
        phases = {
          ...common,
          api: Math.min(started.start, local.planRun.start) - stamp.sentAt,
          startCall: started.end - started.start,
          gap: startFirst ? local.planRun.start - started.end : started.start - local.admitRun.end,
          reply: stamp.doneAt - Math.max(started.end, local.admitRun.end),
        };
      } else if (call) {
        const server = await serverTimes(client, workflowId);
        if (!server) continue;
        if (server.taskOrdinal > 1) laterTask++;
        phases = {
          ...common,
          api: call.start - stamp.sentAt,
          start: server.executionStarted - call.start,
          pickup: server.taskStarted - server.executionStarted,
          activation: local.planRun.start - server.taskStarted,
          complete: server.taskCompleted - local.admitRun.end,
          answer: call.end - server.taskCompleted,
          reply: stamp.doneAt - call.end,
        };
      } else continue;
      for (const [phase, ms] of Object.entries(phases)) perPhase.get(phase as AdmissionPhase)?.push(ms);
      totals.push(stamp.doneAt - stamp.sentAt);
    }
    const summarize = (p: number) =>
      Object.fromEntries(
        [...perPhase].map(([phase, values]) => [
          phase,
          percentile(
            [...values].sort((a, b) => a - b),
            p,
          ),
        ]),
      ) as Record<AdmissionPhase, number>;
    return {
      samples: totals.length,
      inProcess,
      laterTask,
      medianMs: summarize(50),
      p90Ms: summarize(90),
      medianTotalMs: percentile(
        [...totals].sort((a, b) => a - b),
        50,
      ),
      ledger: Object.fromEntries(
        [...ledgerCalls].map(([method, values]) => {
          const sorted = [...values].sort((a, b) => a - b);
          return [method, { calls: sorted.length, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99) }];
        }),
      ),
    };
  }

  return {
    instruments,
    /** Stamps are kept only between start and stop, so warm-up and other phases stay out. */
    start() {
      rpc.clear();
      starts.clear();
      activities.clear();
      ledgerCalls.clear();
      recording = true;
    },
    stop() {
      recording = false;
    },
    breakdown,
  };
}

/**
 * The server's times for the workflow task that answered the admission update: the execution's
 * start, that task's start and completion, and its ordinal among the run's workflow tasks.
 */
async function serverTimes(client: Client, workflowId: string) {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  const at = (id: unknown) => events.find((event) => Number(event.eventId) === Number(id));
  const executionStarted = events.find((event) => event.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  const updateDone = events.find((event) => event.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED);
  // An update completes in the commands of a workflow task: the last one completed before it.
  const taskCompleted = [...events]
    .reverse()
    .find(
      (event) =>
        event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED &&
        updateDone !== undefined &&
        Number(event.eventId) < Number(updateDone.eventId),
    );
  const taskStarted = at(taskCompleted?.workflowTaskCompletedEventAttributes?.startedEventId);
  if (!executionStarted || !taskCompleted || !taskStarted) return undefined;
  const taskOrdinal = events.filter(
    (event) =>
      event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED && Number(event.eventId) <= Number(taskStarted.eventId),
  ).length;
  return {
    executionStarted: tsToMs(executionStarted.eventTime),
    taskStarted: tsToMs(taskStarted.eventTime),
    taskCompleted: tsToMs(taskCompleted.eventTime),
    taskOrdinal,
  };
}
