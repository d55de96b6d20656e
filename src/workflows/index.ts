// The workflow bundle's entry point: every workflow the worker registers.
export { runWorkflow } from './run';
export { backgroundTaskWorkflow } from './background-task';
export { supervisorWorkflow } from './supervisor';
export { incidentWorkflow } from './incident';
