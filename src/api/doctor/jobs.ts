import { randomUUID } from 'node:crypto';
import type { PalyraConfig } from '../../config';
import { openDoctorEnvironment, runDoctor, type DoctorReport } from '../../doctor';
import { PalyraError } from '../../domain/errors';
import type { Principal } from '../plugins/auth';
import { doctorJobModesForAdmins, type DoctorJob, type DoctorJobRequest } from './schemas';

/** Jobs kept for reading back; older ones are forgotten (the recovery runs stay on disk). */
export const doctorJobsKept = 50;

export type DoctorJobs = ReturnType<typeof createDoctorJobs>;

/**
 * Doctor jobs started from the console: each runs `palyra doctor` in this process (its own Temporal
 * and ledger connections, as the CLI has) and is read back by id. Kept in memory: a restart forgets
 * them, while an applied repair's recovery run stays under the data dir for `--rollback-run`.
 * At most one job runs at a time, so two repairs never interleave.
 */
export function createDoctorJobs({ config }: { config: PalyraConfig }) {
  const jobs = new Map<string, DoctorJob>();
  let running: Promise<unknown> = Promise.resolve();

  function start(principal: Principal, request: DoctorJobRequest): DoctorJob {
    if ((doctorJobModesForAdmins as readonly string[]).includes(request.mode) && principal.role !== 'admin') {
      throw new PalyraError(
        'forbidden',
        `token '${principal.tokenName}' (${principal.role}) may not change the installation; ${request.mode} needs admin`,
      );
    }
    const job: DoctorJob = {
      jobId: randomUUID(),
      mode: request.mode,
      recoveryRunId: 'runId' in request ? request.runId : null,
      state: 'queued',
      requestedBy: principal.tokenName,
      createdAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
      report: null,
      error: null,
    };
    jobs.set(job.jobId, job);
    for (const id of [...jobs.keys()].slice(0, Math.max(0, jobs.size - doctorJobsKept))) jobs.delete(id);
    running = running.then(() => execute(job, request));
    return job;
  }

  async function execute(job: DoctorJob, request: DoctorJobRequest): Promise<void> {
    job.state = 'running';
    job.startedAt = new Date().toISOString();
    const env = openDoctorEnvironment(config);
    try {
      const report: DoctorReport = await runDoctor(env, request);
      job.report = report;
      job.state = 'succeeded';
    } catch (error) {
      job.error = (error as Error).message.split('\n')[0] ?? 'failed';
      job.state = 'failed';
    } finally {
      job.finishedAt = new Date().toISOString();
      await env.close();
    }
  }

  function get(jobId: string): DoctorJob {
    const job = jobs.get(jobId);
    if (!job)
      throw new PalyraError('not_found', `doctor job ${jobId} not found (jobs are kept in memory, the last ${doctorJobsKept})`);
    return job;
  }

  /** The jobs this process keeps, newest first. */
  function list(): DoctorJob[] {
    return [...jobs.values()].reverse();
  }

  /** Waits for the jobs started so far (tests, shutdown). */
  function idle(): Promise<unknown> {
    return running;
  }

  return { start, get, list, idle };
}
