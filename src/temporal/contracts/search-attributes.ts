/**
 * Search attributes, registered idempotently at start-up and kept current by the workflows.
 * Part of the contracts (see index.ts): bundled into workflow code, so no Node built-ins or I/O.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const searchAttributes = {
  tenant: defineSearchAttributeKey('PalyraTenant', SearchAttributeType.KEYWORD),
  principal: defineSearchAttributeKey('PalyraPrincipal', SearchAttributeType.KEYWORD),
  runState: defineSearchAttributeKey('PalyraRunState', SearchAttributeType.KEYWORD),
  model: defineSearchAttributeKey('PalyraModel', SearchAttributeType.KEYWORD),
  taskClass: defineSearchAttributeKey('PalyraTaskClass', SearchAttributeType.KEYWORD),
  costMicroUsd: defineSearchAttributeKey('PalyraCostMicroUsd', SearchAttributeType.INT),
} as const;

/** Incident search attributes (docs/architecture.md, Self-healing): list and filter incidents by visibility. */
export const incidentSearchAttributes = {
  state: defineSearchAttributeKey('PalyraIncidentState', SearchAttributeType.KEYWORD),
  detector: defineSearchAttributeKey('PalyraDetector', SearchAttributeType.KEYWORD),
  severity: defineSearchAttributeKey('PalyraSeverity', SearchAttributeType.KEYWORD),
} as const;
