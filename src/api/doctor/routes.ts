import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorResponses } from '../errors';
import { bodyFacts } from '../plugins/audit';
import { principalOf } from '../plugins/auth';
import { doctorJobsKept, type DoctorJobs } from './jobs';
import { doctorJobListSchema, doctorJobParamsSchema, doctorJobRequestSchema, doctorJobSchema } from './schemas';

export const doctorRoutes: FastifyPluginAsyncZod<{ jobs: DoctorJobs }> = async (app, { jobs }) => {
  app.post(
    '/console/v1/doctor/jobs',
    {
      config: {
        auth: { role: 'operator', allTenants: true },
        audit: { action: 'doctor.job.start', detail: bodyFacts('mode', 'planHash', 'runId') },
      },
      schema: {
        summary: 'Start a doctor job',
        description:
          '`diagnostics` (checks only) and `repair_preview` (the plan and its hash) change nothing; `repair_apply` (admin) ' +
          'applies the plan (only if it still has `planHash`, when given) and writes a recovery run under the data dir. ' +
          '`rollback_preview` says what undoing a recovery run (`runId`) would do; `rollback_apply` (admin) undoes it, last ' +
          'step first, refusing a step whose target has changed since (as `palyra doctor --rollback-run` without --force). ' +
          'Answers 202 with the job; read it back with GET until it has finished. One job runs at a time.',
        tags: ['doctor'],
        security: [{ bearer: [] }],
        body: doctorJobRequestSchema,
        response: { 202: doctorJobSchema, ...errorResponses(400, 401, 403, 413, 415, 429, 500) },
      },
    },
    async (request, reply) => reply.code(202).send(jobs.start(principalOf(request), request.body)),
  );

  app.get(
    '/console/v1/doctor/jobs',
    {
      config: { auth: { role: 'operator', allTenants: true } },
      schema: {
        summary: 'List doctor jobs',
        description: `The jobs this API process keeps (in memory, the last ${doctorJobsKept}), newest first.`,
        tags: ['doctor'],
        security: [{ bearer: [] }],
        response: { 200: doctorJobListSchema, ...errorResponses(401, 403, 429, 500) },
      },
    },
    async () => ({ items: jobs.list() }),
  );

  app.get(
    '/console/v1/doctor/jobs/:jobId',
    {
      config: { auth: { role: 'operator', allTenants: true } },
      schema: {
        summary: 'Read a doctor job',
        description: 'Its state and, once finished, the report (as `palyra doctor --json` prints it).',
        tags: ['doctor'],
        security: [{ bearer: [] }],
        params: doctorJobParamsSchema,
        response: { 200: doctorJobSchema, ...errorResponses(400, 401, 403, 404, 429, 500) },
      },
    },
    async (request) => jobs.get(request.params.jobId),
  );
};
