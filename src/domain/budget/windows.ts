import type { BudgetPolicy, BudgetWindow } from './policy';

/**
 * Windows are keys, not reset jobs: a window is identified by the UTC calendar period that `now`
 * falls in, so a new day starts at 00:00 UTC by itself.
 *   day   → `2026-11-27`        week → `2026-W48` (ISO 8601 week, Monday first)
 *   month → `2026-11`           total → `total`
 */
export function periodKey(window: BudgetWindow, now: Date): string {
  const year = now.getUTCFullYear();
  const month = String(now.getUTCMonth() + 1).padStart(2, '0');
  const day = String(now.getUTCDate()).padStart(2, '0');
  switch (window) {
    case 'day':
      return `${year}-${month}-${day}`;
    case 'month':
      return `${year}-${month}`;
    case 'total':
      return 'total';
    case 'week': {
      const { isoYear, isoWeek } = isoWeekOf(now);
      return `${isoYear}-W${String(isoWeek).padStart(2, '0')}`;
    }
  }
}

function isoWeekOf(now: Date): { isoYear: number; isoWeek: number } {
  const date = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const weekday = date.getUTCDay() || 7; // Monday = 1 … Sunday = 7
  date.setUTCDate(date.getUTCDate() + 4 - weekday); // the Thursday of this week decides the year
  const isoYear = date.getUTCFullYear();
  const firstDay = Date.UTC(isoYear, 0, 1);
  const isoWeek = Math.ceil(((date.getTime() - firstDay) / 86_400_000 + 1) / 7);
  return { isoYear, isoWeek };
}

/**
 * A policy's windows belong to a generation. Changing what a window measures (metric), whom it
 * covers (scope kind or id) or its period (window) starts a fresh generation, so spend booked in
 * the old unit or for the old scope is never read against the new definition; limits, the soft
 * limit, the action and `enabled` change nothing about that and keep the windows.
 */
export type PolicyGeneration = Pick<BudgetPolicy, 'scope' | 'metric' | 'window'>;

/** A policy that may carry its window generation (1 when absent: the first definition). */
export type GenerationalPolicy = BudgetPolicy & { generation?: number };

/** Whether replacing `before` by `after` starts a fresh generation of windows. */
export function startsNewGeneration(before: PolicyGeneration, after: PolicyGeneration): boolean {
  return (
    before.metric !== after.metric ||
    before.window !== after.window ||
    before.scope.kind !== after.scope.kind ||
    (before.scope.id ?? null) !== (after.scope.id ?? null)
  );
}

const generationMark = '#g';

/**
 * The window key of a policy generation: the period key, suffixed with `#g<n>` from the second
 * generation on (`2026-11-27`, `2026-11-27#g2`). Generation 1 keys are the plain period keys, as
 * they were before generations existed, so stored windows keep their meaning.
 */
export function windowKey(window: BudgetWindow, now: Date, generation = 1): string {
  const key = periodKey(window, now);
  return generation > 1 ? `${key}${generationMark}${generation}` : key;
}

/** The window a policy books into at `now` (its period in its current generation). */
export function policyWindowKey(policy: Pick<GenerationalPolicy, 'window' | 'generation'>, now: Date): string {
  return windowKey(policy.window, now, policy.generation ?? 1);
}

/** The generation a window key belongs to: 1 for a plain period key. */
export function generationOfKey(key: string): number {
  const at = key.lastIndexOf(generationMark);
  if (at < 0) return 1;
  const generation = Number(key.slice(at + generationMark.length));
  return Number.isSafeInteger(generation) && generation > 1 ? generation : 1;
}
