import { endpoints } from '../../api/endpoints';
import type { DoctorJob } from '../../api/types';

/**
 * The API keeps doctor jobs in memory and reads them back by id only (there is no listing), so the
 * console remembers the ids of the jobs it started, in this browser. Ids are not secrets.
 */
const key = 'palyra.doctorJobs';
const kept = 10;

export function rememberedJobIds(): string[] {
  try {
    const ids = JSON.parse(localStorage.getItem(key) ?? '[]') as unknown;
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

export function rememberJob(jobId: string): void {
  localStorage.setItem(key, JSON.stringify([jobId, ...rememberedJobIds().filter((id) => id !== jobId)].slice(0, kept)));
}

/** The remembered jobs the server still has, newest first (a restarted API has forgotten them). */
export async function lastDoctorJobs(): Promise<DoctorJob[]> {
  const jobs = await Promise.all(rememberedJobIds().map((id) => endpoints.getDoctorJob(id).catch(() => undefined)));
  return jobs.filter((job): job is DoctorJob => job !== undefined);
}
