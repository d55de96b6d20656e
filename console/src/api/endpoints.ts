import { api } from './client';
import type {
  AuditList,
  BudgetPolicy,
  BudgetPolicyBody,
  BudgetUsage,
  Diagnostics,
  DoctorJob,
  DoctorJobRequest,
  Incident,
  IncidentAction,
  IncidentList,
  ModelPrice,
  PriceList,
  Run,
  RunList,
  Session,
  SpendBucket,
  SpendGroupBy,
  SpendReport,
  StartRunResponse,
  Task,
  TaskAction,
} from './types';

const id = encodeURIComponent;

export interface RunFilters {
  tenantId?: string;
  state?: string;
  model?: string;
  taskClass?: string;
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string;
}

export interface StartRunBody {
  tenantId: string;
  principalId: string;
  messages: { role: 'user'; content: string }[];
  model?: string;
  taskClass?: string;
  simulation?: { outputTokens: number; chunkDelayMs: number };
  backgroundTasks?: {
    kind: 'summary';
    input: { text: string };
    simulation?: { outputTokens: number; chunkDelayMs: number };
  }[];
  maxConcurrentChildren?: number;
}

export const endpoints = {
  session: () => api.get<Session>('/v1/session'),

  listRuns: (filters: RunFilters) => api.get<RunList>('/v1/runs', { ...filters }),
  getRun: (runId: string) => api.get<Run>(`/v1/runs/${id(runId)}`),
  startRun: (body: StartRunBody) => api.post<StartRunResponse>('/v1/runs', body),
  cancelRun: (runId: string) => api.post<{ runId: string; cancelRequested: true; state: string }>(`/v1/runs/${id(runId)}/cancel`),
  decideApproval: (runId: string, decision: 'approve' | 'deny', note?: string) =>
    api.post<Run>(`/v1/runs/${id(runId)}/approval`, { decision, ...(note ? { note } : {}) }),

  getTask: (taskId: string) => api.get<Task>(`/v1/tasks/${id(taskId)}`),
  actOnTask: (taskId: string, action: TaskAction, expiresAt?: string | null) =>
    api.post<Task>(`/v1/tasks/${id(taskId)}/${action}`, action === 'retry' && expiresAt !== undefined ? { expiresAt } : {}),

  listIncidents: (query: { state?: string; detector?: string; severity?: string; limit?: number; cursor?: string }) =>
    api.get<IncidentList>('/v1/incidents', query),
  getIncident: (incidentId: string) => api.get<Incident>(`/v1/incidents/${id(incidentId)}`),
  actOnIncident: (incidentId: string, action: IncidentAction, note?: string) =>
    api.post<Incident>(`/v1/incidents/${id(incidentId)}/actions`, { action, ...(note ? { note } : {}) }),

  listPolicies: () => api.get<{ items: BudgetPolicy[] }>('/v1/budgets/policies'),
  putPolicy: (policyId: string, body: BudgetPolicyBody) => api.put<BudgetPolicy>(`/v1/budgets/policies/${id(policyId)}`, body),
  deletePolicy: (policyId: string) => api.delete(`/v1/budgets/policies/${id(policyId)}`),
  usage: () => api.get<BudgetUsage>('/v1/budgets/usage'),
  spend: (query: { groupBy: SpendGroupBy; bucket: SpendBucket; since?: string; until?: string }) =>
    api.get<SpendReport>('/v1/budgets/spend', query),

  listPrices: () => api.get<PriceList>('/v1/pricing/models'),
  putPriceOverride: (modelId: string, body: { inputPerMTokUsd: number; outputPerMTokUsd: number }) =>
    api.put<ModelPrice>(`/v1/pricing/overrides/${id(modelId)}`, body),

  diagnostics: () => api.get<Diagnostics>('/console/v1/diagnostics'),
  startDoctorJob: (request: DoctorJobRequest) => api.post<DoctorJob>('/console/v1/doctor/jobs', request),
  listDoctorJobs: () => api.get<{ items: DoctorJob[] }>('/console/v1/doctor/jobs'),
  getDoctorJob: (jobId: string) => api.get<DoctorJob>(`/console/v1/doctor/jobs/${id(jobId)}`),

  listAudit: (query: { actor?: string; action?: string; since?: string; until?: string; limit?: number; cursor?: string }) =>
    api.get<AuditList>('/v1/audit', query),
};
