import type { Connection } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { LedgerRepository } from '../../ledger';
import { checkReadiness, type Readiness } from './readiness';

export interface HealthRoutesOptions {
  ledger: Pick<LedgerRepository, 'ping'>;
  connection: Connection;
  namespace: string;
  taskQueue: string;
}

const checkSchema = z.object({ ok: z.boolean(), message: z.string() });
const readinessSchema = z
  .object({ ready: z.boolean(), checks: z.object({ temporal: checkSchema, workers: checkSchema, ledger: checkSchema }) })
  .meta({ id: 'Readiness' });

/**
 * `/readyz` is public and unthrottled (probes call it often): its answer is reused for this long and
 * concurrent probes share one check, so probing cannot multiply calls to Temporal and the ledger.
 */
export const readinessCacheMs = 1_000;

export const healthRoutes: FastifyPluginAsyncZod<HealthRoutesOptions> = async (app, options) => {
  let cached: { at: number; readiness: Promise<Readiness> } | undefined;
  const readiness = (): Promise<Readiness> => {
    const now = Date.now();
    if (!cached || now - cached.at >= readinessCacheMs) {
      cached = { at: now, readiness: checkReadiness({ ...options, now }) };
    }
    return cached.readiness;
  };

  app.get(
    '/healthz',
    {
      config: { auth: 'public', rateLimit: false },
      schema: {
        summary: 'Liveness: the API process is up',
        tags: ['health'],
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: { auth: 'public', rateLimit: false },
      schema: {
        summary: 'Readiness: Temporal reachable, a worker polling the task queue, the ledger answering',
        tags: ['health'],
        response: { 200: readinessSchema, 503: readinessSchema },
      },
    },
    async (_request, reply) => {
      const answer = await readiness();
      return reply.code(answer.ready ? 200 : 503).send(answer);
    },
  );

  app.get(
    '/metrics',
    {
      config: { auth: 'public', rateLimit: false },
      schema: { summary: 'Prometheus metrics', tags: ['health'], hide: false },
    },
    async (_request, reply) => {
      const body = await app.metrics.metrics();
      return reply.type(app.metrics.contentType).send(body);
    },
  );
};
