/**
 * Diagnostics (docs/architecture.md, Diagnostics): one snapshot of the installation, gathered
 * section by section, concurrently, each within its own deadline, so one failing dependency makes
 * its section `unavailable` and never the whole. No Fastify here: `GET /console/v1/diagnostics` and
 * `palyra doctor` both call `buildDiagnostics`. It only reads.
 */
import { configSecrets, scrubSecrets } from '../config/redact';
import type { DiagnosticsDeps, SectionContext } from './deps';
import { overallStatus, runSection, sectionDeadlineMs } from './run-section';
import { backgroundTasksSection } from './sections/background-tasks';
import { budgetsSection } from './sections/budgets';
import { configSection } from './sections/config';
import { ledgerSection } from './sections/ledger';
import { processSection, startEventLoopMonitor } from './sections/process';
import { routingSection } from './sections/routing';
import { selfHealingSection } from './sections/self-healing';
import { supervisorSection } from './sections/supervisor';
import { taskQueuesSection } from './sections/task-queues';
import { temporalSection } from './sections/temporal';
import {
  diagnosticsContractVersion,
  type DiagnosticsSections,
  type DiagnosticsSnapshot,
  type SectionFigures,
  type SectionName,
  type SectionVerdict,
} from './types';

export type { DiagnosticsDeps } from './deps';
export * from './types';
export { overallStatus, sectionDeadlineMs } from './run-section';
export { createStartupTimings, startupStepBudgetsMs, type StartupStep, type StartupTimings } from './startup';
export { eventLoopLagP99LimitMs, rssBaselineBytes, startEventLoopMonitor } from './sections/process';
export { temporalLatencyLimitMs } from './sections/temporal';
export { maxBudgetAlerts, maxBudgetPolicies } from './sections/budgets';
export { maxRecentRoutingDecisions } from './sections/routing';
export { maxOpenRunsRead, queuedTooLongMs } from './sections/background-tasks';
export { maxOpenIncidentsListed } from './sections/self-healing';
export { staleTickIntervals } from './sections/supervisor';
export { overdueHoldMarginMs } from './sections/ledger';

type Gatherer<Name extends SectionName> = (context: SectionContext) => Promise<SectionVerdict & SectionFigures[Name]>;

/** The sections, in the order the answer lists them. */
const gatherers: { [Name in SectionName]: Gatherer<Name> } = {
  temporal: temporalSection,
  taskQueues: taskQueuesSection,
  ledger: ledgerSection,
  budgets: budgetsSection,
  routing: routingSection,
  backgroundTasks: backgroundTasksSection,
  selfHealing: selfHealingSection,
  supervisor: supervisorSection,
  process: processSection,
  config: configSection,
};

/**
 * Gathers every section at once, each bounded by `sectionDeadlineMs`; the overall status is the
 * worst section's (`unavailable` counted as `degraded`). Every secret of the config is scrubbed
 * from the whole snapshot, error messages included.
 */
export async function buildDiagnostics(deps: DiagnosticsDeps): Promise<DiagnosticsSnapshot> {
  startEventLoopMonitor();
  const startedAt = performance.now();
  const now = (deps.now ?? (() => new Date()))();
  const names = Object.keys(gatherers) as SectionName[];
  const gathered = await Promise.all(
    names.map((name) =>
      runSection((deadline) => (gatherers[name] as Gatherer<typeof name>)({ deps, now, deadline }), sectionDeadlineMs),
    ),
  );
  const sections = Object.fromEntries(names.map((name, index) => [name, gathered[index]])) as unknown as DiagnosticsSections;
  const snapshot: DiagnosticsSnapshot = {
    contractVersion: diagnosticsContractVersion,
    generatedAt: now.toISOString(),
    status: overallStatus(gathered.map((section) => section.status)),
    durationMs: Math.round(performance.now() - startedAt),
    sections,
  };
  return scrubSecrets(snapshot, configSecrets(deps.config));
}
