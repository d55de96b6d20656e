import { runWorkflowType, searchAttributes } from '../../temporal/contracts';
import { quoteValue } from '../../temporal/visibility-query';
import type { ListRunsQuery } from './schemas';

export type RunListFilter = Pick<ListRunsQuery, 'tenantId' | 'state' | 'model' | 'taskClass' | 'since' | 'until'>;

/**
 * Temporal's list filter for the runs a listing asks for, within the tenants its caller may see
 * (`'*'`: every tenant). Every value is quoted here, so the query holds whatever the input was.
 */
export function runListQuery(filter: RunListFilter, visibleTenants: readonly string[]): string {
  // An execution that continued as new is an earlier part of a run listed by its latest execution.
  const clauses = [`WorkflowType = ${quoteValue(runWorkflowType)}`, `ExecutionStatus != 'ContinuedAsNew'`];
  if (filter.tenantId) clauses.push(`${searchAttributes.tenant.name} = ${quoteValue(filter.tenantId)}`);
  else if (!visibleTenants.includes('*')) {
    clauses.push(`${searchAttributes.tenant.name} IN (${visibleTenants.map(quoteValue).join(', ')})`);
  }
  if (filter.state) clauses.push(`${searchAttributes.runState.name} = ${quoteValue(filter.state)}`);
  if (filter.model) clauses.push(`${searchAttributes.model.name} = ${quoteValue(filter.model)}`);
  if (filter.taskClass) clauses.push(`${searchAttributes.taskClass.name} = ${quoteValue(filter.taskClass)}`);
  // Normalized to UTC, so one instant written with any offset is one query (and one cursor).
  if (filter.since) clauses.push(`StartTime >= ${quoteValue(new Date(filter.since).toISOString())}`);
  if (filter.until) clauses.push(`StartTime < ${quoteValue(new Date(filter.until).toISOString())}`);
  // No ORDER BY: SQL visibility stores refuse it, and all of them list newest first anyway.
  return clauses.join(' AND ');
}
