/**
 * What a request is for. Auxiliary classes are side work (summaries, extraction, classification,
 * image description) that must never cost more than the default model would (see `planRoute`).
 */
export const taskClasses = [
  'primary_interactive',
  'background_automation',
  'auxiliary_summary',
  'auxiliary_extraction',
  'auxiliary_classification',
  'auxiliary_vision',
] as const;
export type TaskClass = (typeof taskClasses)[number];

export function isAuxiliaryTaskClass(taskClass: TaskClass): boolean {
  return taskClass.startsWith('auxiliary_');
}
