/**
 * Everything that crosses a process boundary through Temporal: task queue defaults, workflow ids,
 * workflow and activity payloads, messages, search attributes and failure types. The API and CLI
 * start workflows by name with these types and never import worker code.
 *
 * Split by topic; everything is imported from here. This module is imported by workflow code, so
 * it must stay free of Node built-ins and I/O.
 */
export * from './ids';
export * from './search-attributes';
export * from './runs';
export * from './tasks';
export * from './activity-payloads';
export * from './failures';
export * from './incidents';
