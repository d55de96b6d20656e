import type { OverallStatus, Section, SectionStatus, SectionVerdict } from './types';

/**
 * Each section gives up after this, so one slow dependency (a Temporal frontend that does not
 * answer, a locked database) costs its own section, never the answer.
 */
export const sectionDeadlineMs = 2_000;

export class SectionDeadlineError extends Error {
  override readonly name = 'SectionDeadlineError';
}

/**
 * Gathers one section within `deadlineMs`: a throw or the deadline makes it `unavailable` with the
 * error's first line; the work still running is abandoned (its result ignored).
 */
export async function runSection<Figures>(
  gather: (deadline: number) => Promise<SectionVerdict & Figures>,
  deadlineMs: number = sectionDeadlineMs,
): Promise<Section<Figures>> {
  const startedAt = performance.now();
  const deadline = Date.now() + deadlineMs;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SectionDeadlineError(`no answer within ${deadlineMs} ms`)), deadlineMs);
  });
  const durationMs = () => Math.round(performance.now() - startedAt);
  try {
    const figures = await Promise.race([gather(deadline), timeout]);
    return { ...figures, durationMs: durationMs() };
  } catch (error) {
    return {
      status: 'unavailable',
      reasonCodes: [error instanceof SectionDeadlineError ? 'deadline_exceeded' : 'gather_failed'],
      hints: [],
      error: firstLine(error),
      durationMs: durationMs(),
    };
  } finally {
    clearTimeout(timer);
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error);
  return (message.split('\n')[0] ?? '').slice(0, 500);
}

const rank: Record<SectionStatus, number> = { ok: 0, unavailable: 1, degraded: 1, blocking: 2 };

/** The worst of the sections; `unavailable` counts as `degraded` (unknown, not known bad). */
export function overallStatus(statuses: readonly SectionStatus[]): OverallStatus {
  const worst = Math.max(0, ...statuses.map((status) => rank[status]));
  return worst === 2 ? 'blocking' : worst === 1 ? 'degraded' : 'ok';
}

/** Builds a verdict from findings: the worst finding's status, every code once, every hint. */
export function verdictOf(findings: readonly { status: 'degraded' | 'blocking'; code: string; hint: string }[]): SectionVerdict {
  const status = findings.some((f) => f.status === 'blocking') ? 'blocking' : findings.length > 0 ? 'degraded' : 'ok';
  return { status, reasonCodes: [...new Set(findings.map((f) => f.code))], hints: findings.map((f) => f.hint) };
}

export type Finding = Parameters<typeof verdictOf>[0][number];
