import type { Role } from '../../config';
import { roleAtLeast, type Principal, type RouteAuth } from '../plugins/auth';

/**
 * The privileged actions the console shows buttons for, each named by the route that performs it.
 * Who may act is not written here: it is the route's own `config.auth`, read as the app registers it.
 */
export const consoleActions = {
  startRun: { route: 'POST /v1/runs' },
  cancelRun: { route: 'POST /v1/runs/:runId/cancel' },
  decideApproval: { route: 'POST /v1/runs/:runId/approval' },
  controlTask: { route: 'POST /v1/tasks/:taskId/:action' },
  decideIncident: { route: 'POST /v1/incidents/:incidentId/actions' },
  resumeTenant: { route: 'POST /v1/tenants/:tenantId/resume' },
  readBudgets: { route: 'GET /v1/budgets/spend' },
  editBudget: { route: 'PUT /v1/budgets/policies/:policyId' },
  editPricing: { route: 'PUT /v1/pricing/overrides/:modelId' },
  readDiagnostics: { route: 'GET /console/v1/diagnostics' },
  runDoctorPreview: { route: 'POST /console/v1/doctor/jobs' },
  // One route starts every doctor job; `repair_apply` and `rollback_apply` are refused below admin
  // by the job service (`doctorJobModesForAdmins`), a rule of the request body that the route's
  // config cannot state.
  applyDoctor: { route: 'POST /console/v1/doctor/jobs', alsoNeeds: 'admin' },
  readAudit: { route: 'GET /v1/audit' },
} as const satisfies Record<string, { route: string; alsoNeeds?: Role }>;

export type ConsoleAction = keyof typeof consoleActions;
export const consoleActionNames = Object.keys(consoleActions) as ConsoleAction[];

/** `METHOD /url` as Fastify registered it, the key of {@link consoleActions}. */
export const routeKey = (method: string, url: string): string => `${method} ${url}`;

/**
 * Whether the auth plugin would let this principal through a route with this rule: the same two
 * checks (role at least the route's, every tenant for an installation-wide route). A route without
 * a rule is admin-only there too.
 */
export function ruleAdmits(principal: Pick<Principal, 'role' | 'tenants'>, rule: RouteAuth | undefined): boolean {
  const effective = rule ?? { role: 'admin' as const };
  if (effective === 'public') return true;
  if (!roleAtLeast(principal.role, effective.role)) return false;
  return !effective.allTenants || principal.tenants.includes('*');
}
