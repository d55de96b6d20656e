import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import type { AuthTokenConfig, PalyraConfig } from '../config';
import type { StartupTimings } from '../diagnostics';
import type { LedgerRepository, ReservationSweeper } from '../ledger';
import { auditRoutes } from './audit/routes';
import { budgetRoutes } from './budgets/routes';
import { consoleRoutes } from './console/routes';
import { diagnosticsRoutes } from './diagnostics/routes';
import { createDoctorJobs } from './doctor/jobs';
import { doctorRoutes } from './doctor/routes';
import { registerErrorHandling } from './errors';
import { healthRoutes } from './health/routes';
import { incidentRoutes } from './incidents/routes';
import { createIncidentService } from './incidents/service';
import { auditPlugin } from './plugins/audit';
import { authPlugin } from './plugins/auth';
import { metricsPlugin } from './plugins/metrics';
import { rateLimitOptions, registerTenantRateLimit } from './plugins/rate-limits';
import { pricingRoutes } from './pricing/routes';
import type { ProviderHealthMonitor } from '../route-planner/health';
import type { RoutePlanner } from '../route-planner/planner';
import { routingRoutes } from './routing/routes';
import { runRoutes } from './runs/routes';
import { sessionRoutes } from './session/routes';
import { createCursorCodec, cursorKeyOf } from './runs/cursor';
import type { AdmissionCalls } from './runs/in-process-admission';
import { createRunService } from './runs/service';
import { taskRoutes } from './tasks/routes';
import { createTaskService } from './tasks/service';
import { createTenantPauses } from './tenants/pauses';
import { tenantRoutes } from './tenants/routes';

export interface AppOptions {
  config: PalyraConfig;
  temporal: { client: Client; connection: Connection; uiUrl: string | undefined };
  tokens: AuthTokenConfig[];
  /** The process's one ledger connection (shared with the worker under `palyra dev`). */
  ledger: LedgerRepository;
  /** The reservation sweeper of this process's ledger, when it runs one (its figures are metrics). */
  sweeper?: Pick<ReservationSweeper, 'stats'>;
  /** Plans routes over this process's view of provider health (built by `src/composition.ts`). */
  routePlanner: RoutePlanner;
  /** This process's provider breakers (the planner's), shown by diagnostics. */
  providerHealth?: Pick<ProviderHealthMonitor, 'snapshot'>;
  /**
   * Admission decided in this process before a run starts (src/api/runs/in-process-admission.ts):
   * given where the routing here shares provider health with a worker (`palyra dev`).
   */
  admissionCalls?: AdmissionCalls;
  /** How long this process's start-up steps took, shown by diagnostics. */
  startup?: StartupTimings;
  version: string;
}

/**
 * The whole HTTP API as one plugin: `server.ts` owns the process, tests build it and use `inject`.
 * Not encapsulated, so authentication and the error handler cover every route of the instance,
 * including any registered next to it.
 */
export const palyraApp = fp(
  async function palyraApp(app: FastifyInstance, options: AppOptions): Promise<void> {
    const { config } = options;
    registerErrorHandling(app);

    await app.register(helmet, {
      // Swagger UI needs inline styles and data: images; everything else is same-origin only.
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:'],
          scriptSrc: ["'self'"],
        },
      },
    });
    await app.register(rateLimit, rateLimitOptions(config));
    const cursors = createCursorCodec(cursorKeyOf(options.tokens));
    const incidents = createIncidentService({
      client: options.temporal.client,
      config,
      temporalUiUrl: options.temporal.uiUrl,
      cursors,
    });
    await app.register(metricsPlugin, {
      ...(options.sweeper ? { sweeper: options.sweeper } : {}),
      incidents,
      selfHealing: options.ledger,
    });
    await app.register(authPlugin, { tokens: options.tokens, failedAuth: config.server.failedAuth });
    registerTenantRateLimit(app, config);
    // After auth: it names callers through the auth plugin's token lookup.
    await app.register(auditPlugin, { ledger: options.ledger });

    await app.register(swagger, {
      openapi: {
        info: { title: 'Palyra API', version: options.version, description: 'Control plane for LLM runs.' },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      },
      transform: jsonSchemaTransform,
      transformObject: jsonSchemaTransformObject,
    });
    await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: false });
    // Before every route it reads the access rules of.
    await app.register(sessionRoutes);

    await app.register(healthRoutes, {
      ledger: options.ledger,
      connection: options.temporal.connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
    });
    const tenantPauses = createTenantPauses({ ledger: options.ledger });
    const runs = createRunService({
      client: options.temporal.client,
      config,
      temporalUiUrl: options.temporal.uiUrl,
      tenantPauses,
      cursors,
      ...(options.admissionCalls ? { admissionCalls: options.admissionCalls } : {}),
    });
    await app.register(runRoutes, { runs });
    await app.register(taskRoutes, { tasks: createTaskService({ client: options.temporal.client, config, runs }) });
    await app.register(incidentRoutes, { incidents });
    await app.register(tenantRoutes, { ledger: options.ledger, pauses: tenantPauses });
    await app.register(budgetRoutes, { ledger: options.ledger });
    await app.register(pricingRoutes, { ledger: options.ledger, config });
    await app.register(routingRoutes, { planner: options.routePlanner, ledger: options.ledger });
    await app.register(diagnosticsRoutes, {
      deps: {
        config,
        ledger: options.ledger,
        client: options.temporal.client,
        ...(options.sweeper ? { sweeper: options.sweeper } : {}),
        ...(options.providerHealth ? { providerHealth: options.providerHealth } : {}),
        ...(options.startup ? { startup: options.startup } : {}),
        version: options.version,
      },
    });
    await app.register(doctorRoutes, { jobs: createDoctorJobs({ config }) });
    await app.register(auditRoutes, { ledger: options.ledger });
    await app.register(consoleRoutes);
  },
  { name: 'palyra-app' },
);
