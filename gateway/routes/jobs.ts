import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from 'typebox';
import { getJob, jobEvents, type JobRow } from '../../lib/db/jobs.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { findOperation } from '../../queues/catalogue.ts';
import { isFinal } from '../../queues/job-status.ts';
import type { GatewayContext } from '../context.ts';
import { HttpError, notFound } from '../plugins/errors.ts';
import { scopeToCaller, type OwnedRoute } from '../plugins/scope.ts';
import { errorResponses } from '../schemas.ts';
import { jobView } from '../views.ts';
import { accepted } from './accepted.ts';

/** Jobs belong to whoever the change was for (owner_id); admins see all. */
const JOBS: OwnedRoute = { kind: 'jobs', table: 'jobs' };
const JOB: OwnedRoute = { ...JOBS, idParam: 'id' };

const JobId = Type.Object({ id: Type.String({ pattern: UUID_PATTERN, description: 'job id' }) });

export const jobRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  app.get(
    '/v1/jobs',
    {
      config: { owned: JOBS },
      schema: {
        operationId: 'listJobs',
        tags: ['jobs'],
        summary: 'List jobs, newest first.',
        querystring: Type.Object(
          {
            status: Type.Optional(Type.Ref('JobStatus')),
            op: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9.-]{0,99}$' })),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
            before: Type.Optional(Type.String({ pattern: UUID_PATTERN, description: 'cursor: the `next` of the previous page' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('JobPage'), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { status, op, limit, before } = request.query as { status?: never; op?: string; limit: number; before?: string };
      const query = scopeToCaller(db('jobs').orderBy('id', 'desc').limit(limit + 1), request.caller);
      if (status) query.where('status', status);
      if (op) query.where('op', op);
      if (before) query.where('id', '<', before);
      const rows: JobRow[] = await query;
      const page = rows.slice(0, limit);
      return { items: page.map((r) => jobView(r)), next: rows.length > limit ? page[page.length - 1].id : null };
    },
  );

  app.get(
    '/v1/jobs/:id',
    {
      config: { owned: JOB },
      schema: {
        operationId: 'getJob',
        tags: ['jobs'],
        summary: 'A job with its status, attempts, result, error and events.',
        description: 'With `waitMs`, answers as soon as the job is final or the wait is over (long poll).',
        params: JobId,
        querystring: Type.Object({ waitMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 0 }) }, { additionalProperties: false }),
        response: { 200: Type.Ref('Job'), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const until = Date.now() + request.query.waitMs;
      let job = await getJob(db, request.params.id);
      if (!job) throw notFound('job');
      for (let pause = 20; !isFinal(job.status) && Date.now() < until; pause = Math.min(pause * 2, 250)) {
        await sleep(Math.min(pause, until - Date.now()));
        job = (await getJob(db, request.params.id))!;
      }
      return jobView(job, await jobEvents(db, job.id));
    },
  );

  app.post(
    '/v1/jobs/:id/retry',
    {
      config: { owned: JOB },
      schema: {
        operationId: 'retryJob',
        tags: ['jobs'],
        summary: 'Run a failed or dead job again, as a new job linked to it.',
        params: JobId,
        response: { 202: Type.Ref('Job'), ...errorResponses(401, 404, 409) },
      },
    },
    async (request, reply) => {
      const job = await getJob(db, request.params.id);
      if (!job) throw notFound('job');
      if (job.status !== 'failed' && job.status !== 'dead') {
        throw new HttpError(409, 'conflict', `only failed or dead jobs can be retried; this one is ${job.status}`);
      }
      const op = findOperation(job.op);
      if (!op) throw new HttpError(409, 'conflict', `operation ${job.op} is no longer known`);
      const { job: retry } = await outbox.submit({
        op,
        payload: job.payload,
        actor: request.caller.actor,
        tenant: job.tenant,
        ownerId: job.owner_id,
        correlationId: job.correlation_id,
        retryOf: job.id,
        target: job.target,
        generation: job.generation,
      });
      return accepted(reply, retry);
    },
  );
};
