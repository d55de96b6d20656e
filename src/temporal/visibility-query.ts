import type { DetectorName, IncidentState, Severity } from '../domain/self-healing';
import { incidentSearchAttributes, incidentWorkflowType } from './contracts';

/**
 * A string literal of a Temporal list filter. Temporal parses it with its fork of vitess's
 * sqlparser, where a backslash escapes the character after it: so each backslash and single quote
 * gets one. Every value a list filter holds is quoted here, so the filter holds whatever the value was.
 */
export function quoteValue(value: string): string {
  return `'${value.replace(/[\\']/g, '\\$&')}'`;
}

/**
 * The list filter for incidents. A continued-as-new execution is the same incident as its
 * successor, so only the latest execution of each is listed.
 */
export function incidentListQuery(filter: { state?: IncidentState; detector?: DetectorName; severity?: Severity }): string {
  const clauses = [`WorkflowType = ${quoteValue(incidentWorkflowType)}`, `ExecutionStatus != 'ContinuedAsNew'`];
  if (filter.state) clauses.push(`${incidentSearchAttributes.state.name} = ${quoteValue(filter.state)}`);
  if (filter.detector) clauses.push(`${incidentSearchAttributes.detector.name} = ${quoteValue(filter.detector)}`);
  if (filter.severity) clauses.push(`${incidentSearchAttributes.severity.name} = ${quoteValue(filter.severity)}`);
  // No ORDER BY: SQL visibility stores refuse it, and all of them list newest first anyway.
  return clauses.join(' AND ');
}
