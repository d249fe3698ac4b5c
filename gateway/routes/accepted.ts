import type { FastifyReply } from 'fastify';
import type { JobRow } from '../jobs-store.ts';
import { jobView } from '../views.ts';

/** The answer to every change: 202 and where to follow the job. */
export function accepted(reply: FastifyReply, job: JobRow) {
  return reply.code(202).header('location', `/v1/jobs/${job.id}`).send(jobView(job, reply.request.caller));
}
