import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { getJob, jobEvents, type JobRow } from '../jobs-store.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { findOperation } from '../../queues/catalogue.ts';
import { isFinal } from '../../queues/job-status.ts';
import type { GatewayContext } from '../context.ts';
import { FALLBACK_POLL_MS, JobWaiters, LONG_POLLS_PER_USER } from '../job-waiters.ts';
import type { Caller } from '../plugins/auth.ts';
import { HttpError, notFound } from '../plugins/errors.ts';
import { scopeToCaller, type OwnedRoute } from '../plugins/scope.ts';
import { replanners } from '../retry.ts';
import { keyset, mapPage, pageOf } from '../pages.ts';
import { errorResponses, Job, Page, pageQuery } from '../schemas.ts';
import { jobView } from '../views.ts';
import { accepted } from './accepted.ts';

/** Jobs belong to whoever the change was for (owner_id); admins see all. */
const JOBS: OwnedRoute = { kind: 'jobs', table: 'jobs' };
const JOB: OwnedRoute = { ...JOBS, idParam: 'id' };

const JobId = Type.Object({ id: Type.String({ pattern: UUID_PATTERN, description: 'job id' }) });
const MAX_WAIT_MS = 60_000;

/** Long polls are limited per user, except for the bootstrap admin token (the operator's own, as with rate limits). */
const longPollHolder = (caller: Caller) => (caller.tokenId === null && caller.role === 'admin' ? null : caller.userId);

export const jobRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  const waiters = new JobWaiters(db, app.log);
  app.addHook('onClose', () => waiters.close());

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
            ...pageQuery({ default: 50, maximum: 500 }),
            correlation: Type.Optional(
              Type.String({
                pattern: UUID_PATTERN,
                description: "only the jobs of one change: its first job's correlationId (follow-ups and retries share it)",
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(Job), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { status, op, limit, after, correlation } = request.query as {
        status?: never;
        op?: string;
        limit: number;
        after?: string;
        correlation?: string;
      };
      const query = scopeToCaller(keyset(db('jobs'), { columns: ['id'], desc: true }, { limit, after }), request.caller);
      if (status) query.where('status', status);
      if (op) query.where('op', op);
      if (correlation) query.where('correlation_id', correlation);
      const rows: JobRow[] = await query;
      return mapPage(
        pageOf(rows, limit, (r) => [r.id]),
        (r) => jobView(r, request.caller),
      );
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
        description: `With \`waitMs\`, answers as soon as the job is final or the wait is over (long poll; a user may hold ${LONG_POLLS_PER_USER} at once, 429 beyond).`,
        params: JobId,
        querystring: Type.Object(
          { waitMs: Type.Integer({ minimum: 0, maximum: MAX_WAIT_MS, default: 0 }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Ref('Job'), ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => {
      const { id } = request.params;
      // Watched before the first read, so that a job ending right after it is not missed.
      const watch = request.query.waitMs > 0 ? waiters.watch(id) : null;
      try {
        let job = await getJob(db, id);
        if (!job) throw notFound('job');
        if (watch && !isFinal(job.status)) {
          watch.hold(longPollHolder(request.caller));
          const until = Date.now() + request.query.waitMs;
          while (!isFinal(job.status) && Date.now() < until && !request.signal.aborted) {
            await watch.next(Math.min(until - Date.now(), FALLBACK_POLL_MS), request.signal);
            job = (await getJob(db, id))!;
          }
        }
        return jobView(job, request.caller, await jobEvents(db, job.id));
      } finally {
        watch?.close();
      }
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
        description:
          'The retry is planned again from the resource as it is now (a DNS zone by id: its records and server now), ' +
          'and refused (409) when that resource is gone or is another one. Users retry only operations they start themselves (403 otherwise).',
        params: JobId,
        response: { 202: Type.Ref('Job'), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const job = await getJob(db, request.params.id);
      if (!job) throw notFound('job');
      const replanner = replanners[job.op];
      if (request.caller.role !== 'admin' && !replanner?.users) {
        throw new HttpError(403, 'forbidden', `${job.op} jobs are started by an admin: ask one to retry it`);
      }
      if (job.status !== 'failed' && job.status !== 'dead') {
        throw new HttpError(409, 'conflict', `only failed or dead jobs can be retried; this one is ${job.status}`);
      }
      const op = findOperation(job.op);
      if (!op) throw new HttpError(409, 'conflict', `operation ${job.op} is no longer known`);
      // Without a replanner (admins only): the stored payload, as the admin asked for it.
      const plan = replanner
        ? await replanner.plan(db, job)
        : { payload: job.payload, target: job.target, generation: job.generation, resourceId: job.resource_id };
      const { job: retry } = await outbox.submit({
        op,
        ...plan,
        actor: request.caller.actor,
        tenant: job.tenant,
        ownerId: job.owner_id,
        correlationId: job.correlation_id,
        retryOf: job.id,
      });
      return accepted(reply, retry);
    },
  );
};
