import { z } from 'zod';
import { breakerStates } from '../../domain/routing';
import { detectorNames, incidentStates, remediationIds, selfHealingModes, severities } from '../../domain/self-healing';
import { taskStates } from '../../domain/tasks';
import { overallStatuses, type DiagnosticsSnapshot, type SectionFigures } from '../../diagnostics';

const policyStatuses = ['ok', 'soft_limit', 'hard_limit', 'blocked', 'approval_required', 'downgrade'] as const;

const verdict = {
  reasonCodes: z.array(z.string()).describe('stable snake_case codes of what is wrong; empty when ok'),
  hints: z.array(z.string()).describe('one sentence each: what to look at or do'),
  durationMs: z.number().int().describe('how long gathering the section took'),
};

/** A section: its figures with an ok/degraded/blocking verdict, or `unavailable` with the error instead. */
function section<Shape extends z.ZodRawShape>(id: string, description: string, figures: Shape) {
  const gathered = z
    .object({ status: z.enum(['ok', 'degraded', 'blocking']), ...verdict, ...figures })
    .meta({ id: `Diagnostics${id}`, description });
  const unavailable = z.object({
    status: z.literal('unavailable'),
    ...verdict,
    error: z.string().describe('why it could not be gathered (its first line), e.g. its deadline passed'),
  });
  return z.union([gathered, unavailable]);
}

const iso = z.string().describe('ISO-8601 UTC');
const nullableIso = z.string().nullable();

const poller = z.object({
  identity: z.string(),
  lastAccessAt: nullableIso.describe('when its latest long poll started'),
  polling: z.boolean().describe('last access within 70 s: its long poll may still be open'),
  buildId: z.string().nullable(),
});

export const diagnosticsSectionsSchema = z.object({
  temporal: section('Temporal', 'The Temporal frontend and namespace.', {
    address: z.string(),
    namespace: z.string(),
    reachable: z.boolean(),
    latencyMs: z.number().int().describe('round trip of getSystemInfo'),
    serverVersion: z.string().nullable(),
    namespaceState: z.string().nullable(),
    missingSearchAttributes: z
      .array(z.string())
      .nullable()
      .describe('Palyra search attributes the namespace lacks (`search_attributes_missing`, blocking); null when unlisted'),
  }),
  taskQueues: section(
    'TaskQueues',
    'Pollers of the run queue and the supervisor queue; no poller on a side is `no_pollers` (blocking).',
    {
      queues: z.array(
        z.object({
          name: z.string(),
          role: z.enum(['runs', 'supervisor']),
          status: z.enum(['ok', 'degraded', 'blocking']),
          workflowPollers: z.array(poller),
          activityPollers: z.array(poller),
          backlog: z
            .object({ workflowTasks: z.number().int().nullable(), activityTasks: z.number().int().nullable() })
            .describe('approximate tasks waiting, when the server reports it'),
          buildIds: z.array(z.string()),
        }),
      ),
    },
  ),
  ledger: section('Ledger', 'The budget ledger: schema, pending holds, the expiry sweeper.', {
    dialect: z.enum(['sqlite', 'postgres']),
    location: z.string().describe('where it is, password removed'),
    migrations: z.object({
      applied: z.number().int(),
      known: z.number().int(),
      pending: z.array(z.string()),
      unknown: z.array(z.string()).describe('applied by a newer Palyra'),
    }),
    reservations: z.object({
      pending: z.number().int(),
      pendingPastExpiry: z.number().int(),
      oldestPendingAgeMs: z.number().int().nullable(),
      mostOverdueMs: z.number().int().nullable().describe('how long the most overdue pending hold has outlived its expiry'),
    }),
    sweeper: z.object({
      intervalMs: z.number().int(),
      runningHere: z.boolean().describe('whether the process that answered runs a sweeper'),
      sweeps: z.number().int().nullable(),
      lastSweepAt: nullableIso,
      lastExpiredCount: z.number().int().nullable(),
      expiryFailuresTotal: z.number().int().nullable(),
      sweepFailuresTotal: z.number().int().nullable(),
      lastFailure: z.object({ at: z.string(), reservationId: z.string().optional(), message: z.string() }).nullable(),
    }),
  }),
  budgets: section('Budgets', "Every policy's current window.", {
    policies: z.array(
      z.object({
        policyId: z.string(),
        scope: z.object({ kind: z.string(), id: z.string().optional() }),
        metric: z.string(),
        window: z.string(),
        periodKey: z.string(),
        spent: z.number().int(),
        reserved: z.number().int(),
        limit: z.number().int(),
        softLimit: z.number().int().optional(),
        utilization: z.number(),
        status: z.enum(policyStatuses),
        enabled: z.boolean(),
      }),
    ),
    truncated: z.boolean(),
    recentAlerts: z.array(
      z.object({
        policyId: z.string(),
        threshold: z.string(),
        committed: z.number().int(),
        limit: z.number().int(),
        createdAt: z.string(),
      }),
    ),
  }),
  routing: section('Routing', 'Routing mode, provider circuits and the latest decisions.', {
    mode: z.string(),
    defaultModel: z.string(),
    providers: z.array(
      z.object({
        providerId: z.string(),
        kind: z.string(),
        breaker: z.enum([...breakerStates, 'unknown']).describe("the answering process's own breaker"),
        override: z.object({ openUntil: z.string(), reason: z.string(), openedBy: z.string() }).nullable(),
        effective: z.enum([...breakerStates, 'unknown']),
      }),
    ),
    recentDecisions: z.array(
      z.object({
        decisionId: z.string(),
        runId: z.string().nullable(),
        tenantId: z.string(),
        action: z.string(),
        requestedModel: z.string().nullable(),
        selectedModel: z.string(),
        reasonCodes: z.array(z.string()),
        createdAt: z.string(),
      }),
    ),
  }),
  backgroundTasks: section('BackgroundTasks', "Background tasks by state, from the open runs' memos.", {
    byState: z.object(
      Object.fromEntries(taskStates.map((state) => [state, z.number().int()])) as Record<
        (typeof taskStates)[number],
        z.ZodNumber
      >,
    ),
    runningChildren: z.number().int(),
    openRunsRead: z.number().int(),
    truncated: z.boolean().describe('more open runs than were read: counts cover the newest'),
    oldestQueued: z.object({ runId: z.string(), runStartedAt: z.string(), ageMs: z.number().int() }).nullable(),
  }),
  selfHealing: section('SelfHealing', 'Mode, open incidents, recent remediations, throttle and breaker.', {
    mode: z.enum(selfHealingModes),
    openIncidents: z
      .object({
        items: z.array(
          z.object({
            incidentId: z.string(),
            detector: z.enum(detectorNames),
            severity: z.enum(severities),
            state: z.enum(incidentStates),
            summary: z.string(),
            updatedAt: z.string(),
          }),
        ),
        truncated: z.boolean(),
      })
      .nullable()
      .describe('null when visibility could not be read'),
    recentRemediations: z.array(
      z.object({
        incidentId: z.string(),
        remediationId: z.enum(remediationIds),
        status: z.string(),
        detail: z.string(),
        by: z.string(),
        at: z.string(),
        finishedAt: z.string().nullable(),
      }),
    ),
    nextRemediation: z
      .object({ allowed: z.boolean(), reason: z.string().nullable() })
      .describe('whether the throttle and breaker would let a remediation through now'),
    throttle: z.object({ maxPerMinute: z.number().int(), claimsLastMinute: z.number().int() }),
    circuitBreaker: z.object({
      state: z.enum(['closed', 'open', 'half_open']),
      consecutiveFailures: z.number().int(),
      openMs: z.number().int(),
    }),
  }),
  supervisor: section('Supervisor', "The supervisor's schedule and its last tick.", {
    scheduleId: z.string(),
    present: z.boolean(),
    paused: z.boolean().nullable(),
    note: z.string().nullable(),
    intervalMs: z.number().int(),
    lastActionAt: nullableIso,
    nextActionAt: nullableIso,
    lastTick: z
      .object({
        startedAt: z.string(),
        durationMs: z.number().int(),
        findings: z.number().int(),
        error: z.string().nullable(),
        ticks: z.number().int(),
        recordedAt: z.string(),
        ageMs: z.number().int(),
      })
      .nullable(),
  }),
  process: section('Process', 'The answering process: memory, event loop, start-up steps.', {
    version: z.string(),
    pid: z.number().int(),
    nodeVersion: z.string(),
    uptimeMs: z.number().int(),
    memory: z.object({
      rssBytes: z.number().int(),
      rssBaselineBytes: z.number().int(),
      heapUsedBytes: z.number().int(),
      heapTotalBytes: z.number().int(),
    }),
    eventLoopDelay: z
      .object({ p50Ms: z.number(), p99Ms: z.number(), maxMs: z.number(), samples: z.number().int() })
      .describe('since the monitor started'),
    startup: z
      .array(z.object({ step: z.string(), durationMs: z.number().int(), budgetMs: z.number().int(), overBudget: z.boolean() }))
      .nullable()
      .describe('null when the process did not record its start-up'),
  }),
  config: section('Config', 'The effective config with every secret redacted.', {
    effective: z.unknown().describe('the config; tokens, passwords, API keys and URL credentials read `[redacted]`'),
  }),
});

export const diagnosticsSchema = z
  .object({
    contractVersion: z.literal(1).describe('bumped only when a field is removed or changes meaning'),
    generatedAt: iso,
    status: z.enum(overallStatuses).describe('the worst section status; an `unavailable` section counts as `degraded`'),
    durationMs: z.number().int(),
    sections: diagnosticsSectionsSchema,
  })
  .meta({ id: 'Diagnostics', description: 'One snapshot of the installation, section by section.' });

// The route's schema and the library's types must describe the same answer.
type Schema = z.output<typeof diagnosticsSchema>;
const _snapshotFits: (snapshot: DiagnosticsSnapshot) => Schema = (snapshot) => snapshot;
const _figuresKnown: (names: keyof SectionFigures) => keyof Schema['sections'] = (name) => name;
