import { z } from 'zod';
import {
  defaultSelfHealingSettings as selfHealingDefaults,
  selfHealingModes,
  type SelfHealingSettings,
} from '../domain/self-healing';
import { configBudgetPolicySchema } from './budget-policy';

/**
 * The shape of `palyra.config.yaml` after environment overrides are applied.
 * Every field has a default so an empty file (or none) is a working development setup.
 */

export const roles = ['service', 'operator', 'sre', 'admin'] as const;
export type Role = (typeof roles)[number];

const port = z.number().int().min(1).max(65535);

const authTokenSchema = z
  .object({
    name: z.string().min(1),
    token: z.string().min(16, 'a token must be at least 16 characters').optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'expected the hex SHA-256 of the token (64 lowercase hex digits)')
      .optional(),
    role: z.enum(roles),
    tenants: z.array(z.string().min(1)).min(1).default(['*']),
    /**
     * The principals this token may act as (`principalId` of runs and plans), `*` matching any run of
     * characters (`batch-*`). Unset: any principal, so a principal's budget only accounts, it does not
     * confine (README, Configuration).
     */
    principals: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict()
  .refine((t) => (t.token === undefined) !== (t.sha256 === undefined), {
    message: 'set exactly one of `token` or `sha256`',
  });

export const providerKinds = ['simulated', 'openai-compatible'] as const;

const providerSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'expected a lowercase id (a-z, 0-9, . _ -)'),
    kind: z.enum(providerKinds),
    baseUrl: z.url().optional(),
    /** Name of the environment variable that holds the API key; the key itself never enters config. */
    apiKeyEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name')
      .optional(),
  })
  .strict()
  .refine((p) => p.kind !== 'openai-compatible' || p.baseUrl !== undefined, {
    message: 'an openai-compatible provider needs `baseUrl`',
    path: ['baseUrl'],
  });

const modelSchema = z
  .object({
    id: z.string().min(1),
    provider: z.string().min(1),
    tier: z.enum(['low', 'standard', 'premium']).default('standard'),
    latency: z.enum(['low', 'standard', 'high']).default('standard'),
    contextWindow: z.number().int().positive().default(128_000),
    maxOutputTokens: z.number().int().positive().default(4_096),
    capabilities: z
      .object({ json: z.boolean().default(true), vision: z.boolean().default(false) })
      .strict()
      .default({ json: true, vision: false }),
    pricing: z
      .object({
        inputPerMTokUsd: z.number().nonnegative(),
        outputPerMTokUsd: z.number().nonnegative(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** Built-in development setup: one simulated provider and three tiers of simulated models. */
export const defaultProviders: z.input<typeof providerSchema>[] = [{ id: 'simulated', kind: 'simulated' }];
export const defaultModels: z.input<typeof modelSchema>[] = [
  {
    id: 'sim-small',
    provider: 'simulated',
    tier: 'low',
    latency: 'low',
    contextWindow: 16_000,
    maxOutputTokens: 2_048,
    pricing: { inputPerMTokUsd: 0.15, outputPerMTokUsd: 0.6 },
  },
  {
    id: 'sim-standard',
    provider: 'simulated',
    tier: 'standard',
    contextWindow: 128_000,
    maxOutputTokens: 8_192,
    pricing: { inputPerMTokUsd: 2.5, outputPerMTokUsd: 10 },
  },
  {
    id: 'sim-premium',
    provider: 'simulated',
    tier: 'premium',
    latency: 'high',
    contextWindow: 200_000,
    maxOutputTokens: 16_384,
    capabilities: { json: true, vision: true },
    pricing: { inputPerMTokUsd: 15, outputPerMTokUsd: 75 },
  },
];

const selfHealingMode = z.enum(selfHealingModes);
const thresholds = selfHealingDefaults.detectors;
const durationMs = z.number().int().min(1);
const attemptCount = z.number().int().min(1);

/** Every detector may override `selfHealing.mode`. */
const detectorMode = { mode: selfHealingMode.optional() };
const afterMsDetector = (afterMs: number) =>
  z
    .object({ ...detectorMode, afterMs: durationMs.default(afterMs) })
    .strict()
    .prefault({});
const attemptsDetector = (attempts: number) =>
  z
    .object({ ...detectorMode, attempts: attemptCount.default(attempts) })
    .strict()
    .prefault({});

/** Self-healing (docs/architecture.md, Self-healing); threshold defaults come from the domain. */
const selfHealingSchema = z
  .object({
    /** disabled: no detection; observe_only: incidents, every remediation waits for a person; auto: low-risk ones run. */
    mode: selfHealingMode.default(selfHealingDefaults.mode),
    supervisorIntervalMs: z.number().int().min(1000).default(selfHealingDefaults.supervisorIntervalMs),
    /** Across all incidents of the installation, not per process. */
    maxRemediationsPerMinute: z.number().int().min(1).default(selfHealingDefaults.maxRemediationsPerMinute),
    /** Opens after this many failed remediations in a row, for openMs, across the installation. */
    circuitBreaker: z
      .object({
        consecutiveFailures: z.number().int().min(1).default(selfHealingDefaults.circuitBreaker.consecutiveFailures),
        openMs: durationMs.default(selfHealingDefaults.circuitBreaker.openMs),
      })
      .strict()
      .prefault({}),
    detectors: z
      .object({
        stalled_stream: z
          .object({ ...detectorMode, stallAfterMs: durationMs.default(thresholds.stalled_stream.stallAfterMs) })
          .strict()
          .prefault({}),
        retry_storm: attemptsDetector(thresholds.retry_storm.attempts),
        no_pollers: afterMsDetector(thresholds.no_pollers.afterMs),
        workflow_task_failing: attemptsDetector(thresholds.workflow_task_failing.attempts),
        orphaned_reservation: z
          .object({ ...detectorMode, graceMs: z.number().int().min(0).default(thresholds.orphaned_reservation.graceMs) })
          .strict()
          .prefault({}),
        approval_waiting: afterMsDetector(thresholds.approval_waiting.afterMs),
        run_overdue: afterMsDetector(thresholds.run_overdue.afterMs),
        stuck_cancellation: afterMsDetector(thresholds.stuck_cancellation.afterMs),
        spend_spike: z
          .object({
            ...detectorMode,
            factor: z.number().min(1).default(thresholds.spend_spike.factor),
            minMicroUsd: z.number().int().min(0).default(thresholds.spend_spike.minMicroUsd),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

export const configSchema = z
  .object({
    /** State: SQLite ledger, dev-server DB, generated admin token, tools cache. */
    dataDir: z.string().min(1).default('./.palyra'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    server: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: port.default(8080),
        // Capped below Temporal's 2 MiB payload limit: the messages travel in the workflow input.
        bodyLimitBytes: z
          .number()
          .int()
          .min(1024)
          .max(1536 * 1024)
          .default(1024 * 1024),
        requestTimeoutMs: z.number().int().min(1000).default(30_000),
        rateLimit: z
          .object({
            max: z.number().int().positive().default(600),
            timeWindowMs: z.number().int().positive().default(60_000),
            /** Requests per window for all the tokens of one tenant together (tokens scoped to one tenant). */
            perTenantMax: z.number().int().positive().default(2_400),
          })
          .strict()
          .prefault({}),
        /**
         * Failed authentication per client address: past `threshold` failures within `windowMs`, every
         * request with credentials from that address answers 429 for a delay that doubles with each
         * further failure, from 1 s up to `maxDelayMs`, so guessing tokens costs time.
         */
        failedAuth: z
          .object({
            threshold: z.number().int().min(1).default(10),
            windowMs: z.number().int().min(1000).default(60_000),
            maxDelayMs: z.number().int().min(1000).default(300_000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    temporal: z
      .object({
        /** External frontend (host:port). When unset, `palyra dev` starts the embedded dev server. */
        address: z.string().min(1).optional(),
        namespace: z.string().min(1).default('default'),
        taskQueue: z.string().min(1).default('palyra'),
        /**
         * The supervisor's and incidents' queue, polled by the API process and by workers, so a dead
         * run-worker fleet is still detected. Also the id of the supervisor's schedule (one per queue).
         */
        supervisorTaskQueue: z.string().min(1).default('palyra-supervisor'),
        /** Base URL of the Temporal Web UI used for links; derived from the dev server when unset. */
        uiUrl: z.url().optional(),
        cliPath: z.string().min(1).optional(),
        devServer: z
          .object({ port: port.default(7233), uiPort: port.default(8233) })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        /** `postgres://…` selects PostgreSQL; unset means SQLite in the data dir. */
        url: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({ tokens: z.array(authTokenSchema).default([]) })
      .strict()
      .prefault({}),
    providers: z.array(providerSchema).min(1).prefault(defaultProviders),
    models: z.array(modelSchema).min(1).prefault(defaultModels),
    routing: z
      .object({
        mode: z.enum(['suggest', 'dry_run', 'enforced']).default('suggest'),
        defaultModel: z.string().min(1).default('sim-standard'),
      })
      .strict()
      .prefault({}),
    budgets: z
      .object({
        /** Policies declared here are marked `config` and can only be changed here. */
        policies: z.array(configBudgetPolicySchema).default([]),
        /** How often the sweeper expires pending reservations past their expiry. */
        sweepIntervalMs: z.number().int().min(1000).default(30_000),
      })
      .strict()
      .prefault({}),
    runs: z
      .object({
        /** A stream that makes no progress for this long is treated as stalled and retried. */
        heartbeatTimeoutMs: z.number().int().min(1000).default(15_000),
        providerTimeoutMs: z
          .number()
          .int()
          .min(1000)
          .default(10 * 60_000),
        /**
         * How long `POST /v1/runs` waits for the budget decision. Past it (no worker free to decide)
         * the answer is 202 without `admission`; the run goes on and its document shows the decision.
         */
        admissionWaitMs: z.number().int().min(100).max(60_000).default(10_000),
        /**
         * Backpressure: admissions one API process runs at once. Past it, requests wait in a queue fair
         * across tenants for up to `admissionQueueMs`, then answer 503 with Retry-After (nothing started).
         */
        maxAdmissionsInFlight: z.number().int().min(1).max(10_000).default(64),
        /**
         * Of those, the most one tenant holds at once, so a burst from one tenant leaves slots free for
         * the others; a tenant at it waits in its own queue even with slots free. Unset: half of
         * `maxAdmissionsInFlight`, rounded up. Equal to it: no tenant is held back.
         */
        maxAdmissionsInFlightPerTenant: z.number().int().min(1).max(10_000).optional(),
        admissionQueueMs: z.number().int().min(0).max(60_000).default(5_000),
        /** A run parked by an `approval_required` budget ends `denied` if nobody decides within this. */
        approvalTimeoutMs: z
          .number()
          .int()
          .min(1000)
          .default(24 * 3_600_000),
      })
      .strict()
      .superRefine((runs, ctx) => {
        const perTenant = runs.maxAdmissionsInFlightPerTenant;
        if (perTenant !== undefined && perTenant > runs.maxAdmissionsInFlight) {
          ctx.addIssue({
            code: 'custom',
            path: ['maxAdmissionsInFlightPerTenant'],
            message: `must be at most runs.maxAdmissionsInFlight (${runs.maxAdmissionsInFlight})`,
          });
        }
      })
      .prefault({}),
    /** Background tasks (docs/architecture.md, Background tasks): the defaults a run's tasks are scheduled with. */
    tasks: z
      .object({
        /** Task children a run runs at once unless it sets its own `maxConcurrentChildren`. */
        maxConcurrentChildren: z.number().int().min(1).max(32).default(4),
        /** Most tasks one run may have (they live in its history and memo). */
        maxPerRun: z.number().int().min(1).max(200).default(50),
        /** Runs complete without waiting for running tasks unless a run says otherwise. */
        detachByDefault: z.boolean().default(false),
        /** Backoff between a task's attempts: doubling from the initial interval up to the maximum. */
        retryInitialIntervalMs: z.number().int().min(10).max(3_600_000).default(1_000),
        retryMaximumIntervalMs: z.number().int().min(10).max(3_600_000).default(60_000),
        /**
         * A run whose work is done stays open this long after a task of it ended failed, cancelled
         * or expired, so an operator can retry that task (0: complete at once).
         */
        retryGraceMs: z.number().int().min(0).max(86_400_000).default(60_000),
        /**
         * A run waiting on its tasks' retries continues as new past this many history events (or
         * when Temporal suggests it), so operator retries never grow one history without bound.
         */
        historyEventsBeforeContinueAsNew: z.number().int().min(100).max(20_000).default(10_000),
      })
      .strict()
      .prefault({}),
    selfHealing: selfHealingSchema,
  })
  .strict()
  .superRefine((config, ctx) => {
    const providerIds = new Set<string>();
    config.providers.forEach((provider, index) => {
      if (providerIds.has(provider.id)) {
        ctx.addIssue({ code: 'custom', path: ['providers', index, 'id'], message: `duplicate provider id '${provider.id}'` });
      }
      providerIds.add(provider.id);
    });
    const modelIds = new Set<string>();
    config.models.forEach((model, index) => {
      if (modelIds.has(model.id)) {
        ctx.addIssue({ code: 'custom', path: ['models', index, 'id'], message: `duplicate model id '${model.id}'` });
      }
      modelIds.add(model.id);
      if (!providerIds.has(model.provider)) {
        ctx.addIssue({
          code: 'custom',
          path: ['models', index, 'provider'],
          message: `unknown provider '${model.provider}' (configured: ${[...providerIds].join(', ')})`,
        });
      }
    });
    const policyIds = new Set<string>();
    config.budgets.policies.forEach((policy, index) => {
      if (policyIds.has(policy.policyId)) {
        ctx.addIssue({
          code: 'custom',
          path: ['budgets', 'policies', index, 'policyId'],
          message: `duplicate policy id '${policy.policyId}'`,
        });
      }
      policyIds.add(policy.policyId);
    });
    if (config.tasks.retryMaximumIntervalMs < config.tasks.retryInitialIntervalMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['tasks', 'retryMaximumIntervalMs'],
        message: `must be at least tasks.retryInitialIntervalMs (${config.tasks.retryInitialIntervalMs})`,
      });
    }
    if (!modelIds.has(config.routing.defaultModel)) {
      ctx.addIssue({
        code: 'custom',
        path: ['routing', 'defaultModel'],
        message: `unknown model '${config.routing.defaultModel}' (configured: ${[...modelIds].join(', ')})`,
      });
    }
  });

export type PalyraConfig = z.output<typeof configSchema>;
export type PalyraConfigInput = z.input<typeof configSchema>;
export type ModelConfig = PalyraConfig['models'][number];
export type ProviderConfig = PalyraConfig['providers'][number];
export type AuthTokenConfig = PalyraConfig['auth']['tokens'][number];

// The parsed section is what the self-healing domain reads; this fails to compile if they drift apart.
const _selfHealingFits: (section: PalyraConfig['selfHealing']) => SelfHealingSettings = (section) => section;
