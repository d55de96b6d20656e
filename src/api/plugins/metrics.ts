import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReservationSweeper } from '../../ledger';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry;
  }
}

/**
 * Prometheus metrics on a registry of this app's own (not prom-client's global one), so several
 * apps in one process (tests, `palyra dev`) never collide.
 */
export const metricsPlugin = fp(
  async function metrics(app: FastifyInstance, options: { sweeper?: Pick<ReservationSweeper, 'stats'> }) {
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
