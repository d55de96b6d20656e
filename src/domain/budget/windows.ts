import type { BudgetWindow } from './policy';

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
