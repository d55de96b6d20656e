import type { DoctorJob } from '../../api/types';
import { Chip } from '../../components/Chip';
import { DataView } from '../../components/DataView';
import { ago, dateTime, words } from '../../format';
import type { Resource } from '../../hooks/useResource';
import { Link } from '../../router';

/** The doctor jobs the API process keeps (whoever started them), newest first; each links to its report. */
export function DoctorJobList({ jobs, currentJobId }: { jobs: Resource<{ items: DoctorJob[] }>; currentJobId?: string }) {
  return (
    <section className="card" aria-labelledby="doctor-jobs">
      <h2 id="doctor-jobs">Recent doctor jobs</h2>
      <p className="hint">
        Kept in memory by the API process, the most recent only: a restart forgets them, not the recovery runs they wrote.
      </p>
      <DataView
        resource={jobs}
        what="doctor jobs"
        isEmpty={(list) => list.items.length === 0}
        empty="No doctor jobs since the API started."
      >
        {(list) => (
          <div className="table-wrap">
            <table className="doctor-jobs">
              <caption className="visually-hidden">Recent doctor jobs</caption>
              <thead>
                <tr>
                  <th scope="col">Job</th>
                  <th scope="col">State</th>
                  <th scope="col">Who</th>
                  <th scope="col">When</th>
                </tr>
              </thead>
              <tbody>
                {list.items.map((job) => (
                  <tr
                    key={job.jobId}
                    data-job-id={job.jobId}
                    data-mode={job.mode}
                    data-state={job.state}
                    aria-current={job.jobId === currentJobId ? 'true' : undefined}
                  >
                    <td>
                      <Link to={`/doctor?job=${job.jobId}`}>{words(job.mode)}</Link>
                      {job.recoveryRunId ? (
                        <span className="sub">
                          run <code>{job.recoveryRunId}</code>
                        </span>
                      ) : null}
                    </td>
                    <td>
                      <Chip value={job.state} />
                      {job.report ? <Chip value={job.report.status} label={`report ${job.report.status}`} /> : null}
                      {job.error ? <span className="sub">{job.error}</span> : null}
                    </td>
                    <td>{job.requestedBy}</td>
                    <td title={dateTime(job.createdAt)}>{ago(job.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </DataView>
    </section>
  );
}
