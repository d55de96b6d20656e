import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { detectorNames, severities, type DetectorName, type Severity } from '../../domain/self-healing';
import type { LedgerRepository, ReservationSweeper } from '../../ledger';
import type { SupervisorTick } from '../../ledger/repository/self-healing';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry;
  }
}

/** Open incidents by detector and severity, read at scrape time (the API reads a bounded number from visibility). */
export interface OpenIncidentsSource {
  openCounts(): Promise<Array<{ detector: DetectorName; severity: Severity; count: number }>>;
}

export interface MetricsOptions {
  /** The reservation sweeper of this process's ledger, when it runs one. */
  sweeper?: Pick<ReservationSweeper, 'stats'>;
  incidents?: OpenIncidentsSource;
  /** Remediations by outcome and the supervisor's ticks, as the ledger records them for the whole installation. */
  selfHealing?: Pick<LedgerRepository, 'remediationCounts' | 'lastSupervisorTick'>;
}

/** A figure read from outside the process at most once per this long, however often Prometheus scrapes. */
export const scrapeCacheMs = 10_000;

/**
 * Prometheus metrics on a registry of this app's own (not prom-client's global one), so several
 * apps in one process (tests, `palyra dev`) never collide.
 */
export const metricsPlugin = fp(
  async function metrics(app: FastifyInstance, options: MetricsOptions) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'palyra_' });
    const requests = new Counter({
      name: 'palyra_http_requests_total',
      help: 'HTTP requests answered, by method, route and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      registers: [registry],
    });
    const duration = new Histogram({
      name: 'palyra_http_request_duration_seconds',
      help: 'HTTP request duration in seconds, by method, route and status code',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    const { sweeper } = options;
    if (sweeper) {
      // Read at scrape time from the sweeper's own counts (it lives beside the app, not in it).
      const sweeperFigures = [
        ['palyra_ledger_reservations_expired_total', 'Reservations the sweeper expired', 'expiredTotal'],
        [
          'palyra_ledger_expiry_failures_total',
          'Reservations that failed to expire (skipped, retried next sweep)',
          'expiryFailuresTotal',
        ],
        ['palyra_ledger_sweep_failures_total', 'Sweeps that failed as a whole', 'sweepFailuresTotal'],
      ] as const;
      for (const [name, help, field] of sweeperFigures) {
        new Gauge({
          name,
          help,
          registers: [registry],
          collect() {
            this.set(sweeper.stats()[field]);
          },
        });
      }
    }
    if (options.incidents) registerIncidentMetrics(app, registry, options.incidents);
    if (options.selfHealing) registerSelfHealingMetrics(app, registry, options.selfHealing);
    app.decorate('metrics', registry);

    app.addHook('onResponse', async (request, reply) => {
      // The route pattern, never the raw URL, keeps label cardinality bounded.
      const labels = {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      };
      requests.inc(labels);
      duration.observe(labels, reply.elapsedTime / 1000);
    });
  },
  { name: 'palyra-metrics' },
);

/**
 * `palyra_incidents_open{detector,severity}`: every pair is present (0 when none is open) once a read
 * has succeeded; a failed read keeps the last figures and counts in `palyra_incidents_scrape_failures_total`.
 */
function registerIncidentMetrics(app: FastifyInstance, registry: Registry, source: OpenIncidentsSource): void {
  const failures = new Counter({
    name: 'palyra_incidents_scrape_failures_total',
    help: 'Reads of the open incidents (for palyra_incidents_open) that failed; the gauge kept its last values',
    registers: [registry],
    async collect() {
      // The same scrape reports the failure of the read it waited for.
      await counts.refresh();
    },
  });
  const counts = scrapeCache(source.openCounts.bind(source), (error) => {
    failures.inc();
    app.log.warn({ err: error }, 'could not read the open incidents for palyra_incidents_open');
  });
  new Gauge({
    name: 'palyra_incidents_open',
    help: `Incidents not yet resolved, by detector and severity (read from Temporal at most every ${scrapeCacheMs / 1000} s)`,
    labelNames: ['detector', 'severity'] as const,
    registers: [registry],
    async collect() {
      await counts.refresh();
      if (!counts.value) return;
      for (const detector of detectorNames) {
        for (const severity of severities) this.set({ detector, severity }, 0);
      }
      for (const { detector, severity, count } of counts.value) this.set({ detector, severity }, count);
    },
  });
}

/**
 * From the ledger, so every API process reports the installation's figures: remediations by outcome
 * (`palyra_remediations_total{remediation,outcome}`), and the last supervisor tick's duration, time and
 * count of findings, with the number of ticks recorded.
 */
function registerSelfHealingMetrics(
  app: FastifyInstance,
  registry: Registry,
  ledger: Pick<LedgerRepository, 'remediationCounts' | 'lastSupervisorTick'>,
): void {
  const figures = scrapeCache(
    async () => ({ counts: await ledger.remediationCounts(), tick: await ledger.lastSupervisorTick() }),
    (error) => app.log.warn({ err: error }, 'could not read the self-healing figures from the ledger'),
  );
  new Counter({
    name: 'palyra_remediations_total',
    help: 'Remediations attempted by the installation, by remediation and outcome (succeeded, failed, skipped)',
    labelNames: ['remediation', 'outcome'] as const,
    registers: [registry],
    async collect() {
      await figures.refresh();
      if (!figures.value) return;
      this.reset();
      for (const { remediationId, status, count } of figures.value.counts)
        this.inc({ remediation: remediationId, outcome: status }, count);
    },
  });
  const tickFigures = [
    [
      'palyra_supervisor_tick_duration_seconds',
      'Duration of the last supervisor tick',
      (t: SupervisorTick) => t.durationMs / 1000,
    ],
    ['palyra_supervisor_tick_findings', 'Findings of the last supervisor tick', (t: SupervisorTick) => t.findings],
    [
      'palyra_supervisor_last_tick_timestamp_seconds',
      'When the last supervisor tick started (Unix time)',
      (t: SupervisorTick) => Date.parse(t.startedAt) / 1000,
    ],
    [
      'palyra_supervisor_ticks_recorded',
      'Supervisor ticks recorded since the installation began',
      (t: SupervisorTick) => t.ticks,
    ],
  ] as const;
  for (const [name, help, read] of tickFigures) {
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        await figures.refresh();
        const tick = figures.value?.tick;
        if (tick) this.set(read(tick));
      },
    });
  }
}

/**
 * Reads `load` at most once per `scrapeCacheMs` (concurrent scrapes share one read). A failed read
 * keeps the last value and is retried after the same interval, so a slow Temporal is not hammered.
 */
function scrapeCache<T>(load: () => Promise<T>, onFailure: (error: unknown) => void) {
  let value: T | undefined;
  let readAt = Number.NEGATIVE_INFINITY;
  let reading: Promise<void> | undefined;
  return {
    get value(): T | undefined {
      return value;
    },
    refresh(): Promise<void> {
      if (Date.now() - readAt < scrapeCacheMs) return reading ?? Promise.resolve();
      readAt = Date.now();
      reading = load().then((loaded) => {
        value = loaded;
      }, onFailure);
      return reading;
    },
  };
}
