import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { createActivities, type PalyraActivities } from './activities';
import type { AdmissionCalls } from './api/runs/in-process-admission';
import { createIncidentActivities } from './activities/incidents';
import { createSupervisorEvidenceActivities } from './activities/supervisor-evidence';
import type { PalyraConfig } from './config';
import { configSecrets } from './config/redact';
import type { LedgerRepository } from './ledger';
import { createProviderRegistry, type ProviderRegistry } from './providers/registry';
import { createProviderHealthMonitor, type ProviderHealthMonitor } from './route-planner/health';
import { createRoutePlanner, type RoutePlanner } from './route-planner/planner';

/** What the API (route planner) and the worker (activities) of one process run over. */
export interface PalyraServices {
  providers: ProviderRegistry;
  providerHealth: ProviderHealthMonitor;
  routePlanner: RoutePlanner;
  activities: PalyraActivities;
  /**
   * The worker's admission calls, for an API in the same process to decide admission before a run
   * starts (they share this provider health, so both route alike).
   */
  admissionCalls: AdmissionCalls;
}

/**
 * The one place that builds the services of `palyra dev`, `api` and `worker`, and of the tests.
 * Prices are not built here: the planner and the activities load the catalog from the ledger per
 * call, so stored overrides apply at once.
 */
export function composeServices({
  config,
  ledger,
  providerHealth = createProviderHealthMonitor(),
}: {
  config: PalyraConfig;
  /** The process's one ledger connection. */
  ledger: LedgerRepository;
  /** Provider health as this process sees it; under `palyra dev` the API and the worker share it. */
  providerHealth?: ProviderHealthMonitor;
}): PalyraServices {
  const providers = createProviderRegistry(config.providers, { secrets: configSecrets(config) });
  const routePlanner = createRoutePlanner({ ledger, config, health: providerHealth });
  const activities = createActivities({ providers, ledger, config, providerHealth, routePlanner });
  const admissionCalls: AdmissionCalls = { planRun: activities.planRun, admitRun: activities.admitRun };
  return { providers, providerHealth, routePlanner, activities, admissionCalls };
}

/**
 * The activities of the supervisor task queue (the supervisor's evidence and reports, the incidents'
 * remediations), polled by the API process and by workers. They act through a Temporal client.
 */
export function composeSupervisorActivities({
  config,
  ledger,
  client,
  temporalUiUrl,
  logger,
}: {
  config: PalyraConfig;
  ledger: LedgerRepository;
  client: Client;
  temporalUiUrl?: string | undefined;
  logger?: Pick<Logger, 'error' | 'warn' | 'info'>;
}) {
  const evidence = createSupervisorEvidenceActivities({ client, ledger, namespace: config.temporal.namespace });
  const incidents = createIncidentActivities({
    client,
    ledger,
    config,
    gatherEvidence: evidence.gatherEvidence,
    ...(temporalUiUrl !== undefined ? { temporalUiUrl } : {}),
    ...(logger ? { logger } : {}),
  });
  return { ...evidence, ...incidents };
}
