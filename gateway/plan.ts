/**
 * Every producer of jobs (routes, fan-out, user removal, renewals, repairs, follow-ups) plans
 * them in one shape, typed by the operation: `plan({ op: websiteDelete, payload: {...} })`
 * checks the payload against the operation's schema type, so a misspelled field or a wrong
 * type is a compile error, not a dead letter. The outbox writes plans; it never sees `unknown`.
 */
import type { Knex } from 'knex';
import { insertJob, type JobRow, type NewJob } from './jobs-store.ts';
import { newJobId } from '../lib/ids.ts';
import { jobsAccepted } from '../lib/metrics.ts';
import type { Operation, PayloadOf } from '../queues/operation.ts';
import type { Caller } from './plugins/auth.ts';

export interface JobPlan<O extends Operation = Operation> {
  op: O;
  payload: PayloadOf<O>;
  /** What the job acts on, for people (`website/shop@h1`); null for jobs about nothing in particular. */
  target?: string | null;
  /** The resource's generation this job converges to (stale ones are superseded). */
  generation?: number | null;
  /** The resource's id (jobs.resource_id): what observers and retries go by, never its name. */
  resourceId?: string | null;
  /** Who the job is for, when it is not the requester's own (a repair of a tenant's site). */
  ownerId?: string | null;
  /** Writes that need the job's id (a zone's last job), in the transaction that writes the job. */
  alsoInTransaction?(trx: Knex.Transaction, jobId: string): Promise<void>;
}

/**
 * A plan checked against its operation's payload type, then widened so that plans of several
 * operations share one array (`JobPlan[]`).
 */
export const plan = <O extends Operation>(job: JobPlan<O>): JobPlan => job as unknown as JobPlan;

/** Who asks for jobs: recorded as their actor, and whose they are (who may see them). */
export interface Requester {
  actor: string;
  tenant: string | null;
  /** users.id of the jobs' owner; null: admins only. */
  ownerId: string | null;
}

/** A caller of the API as a requester: a user's jobs are theirs; an admin's are everyone's to see. */
export const requesterOf = (caller: Caller): Requester => ({
  actor: caller.actor,
  tenant: caller.tenant,
  ownerId: caller.role === 'admin' ? null : caller.userId,
});

/** `up`'s own jobs (`system:scheduler`, `system:health`, …): admins see them, unless a plan names an owner. */
export const system = (who: string): Requester => ({ actor: `system:${who}`, tenant: null, ownerId: null });

/** What ties a job to others: a retry to its original, follow-ups to the change they complete. */
export interface Links {
  idempotencyKey?: string | null;
  /** Shared by a change and its follow-ups; default: the job's own id. */
  correlationId?: string;
  retryOf?: string;
}

/** One job to submit alone: its plan, who asks, and what ties it to other jobs. */
export type Submission<O extends Operation = Operation> = JobPlan<O> &
  Omit<Requester, 'ownerId'> & {
    /** users.id of the job's owner (who may see it); null: admins only. */
    ownerId?: string | null;
  } & Links;

/** The row a submission is written as (status `accepted`). */
export function newJobOf(s: Omit<Submission, 'alsoInTransaction'>): NewJob {
  const id = newJobId();
  return {
    id,
    op: s.op.name,
    payload_version: s.op.version,
    tenant: s.tenant,
    actor: s.actor,
    payload: s.payload,
    max_attempts: s.op.retry.maxAttempts,
    correlation_id: s.correlationId ?? id,
    idempotency_key: s.idempotencyKey ?? null,
    retry_of: s.retryOf ?? null,
    target: s.target ?? null,
    generation: s.generation ?? null,
    owner_id: s.ownerId ?? null,
    resource_id: s.resourceId ?? null,
  };
}

/**
 * Writes planned jobs in `accepted` in `trx`, each with its own writes. Nothing is published
 * here: the caller publishes after the commit (Outbox.submitPlans), or the outbox's reconciler
 * does (planned by an observer or the health daemon). A plan's owner wins over the requester's.
 */
export async function writePlans(trx: Knex.Transaction, plans: readonly JobPlan[], by: Requester, links: Links = {}): Promise<JobRow[]> {
  const rows: JobRow[] = [];
  for (const { alsoInTransaction, ...job } of plans) {
    const ownerId = job.ownerId !== undefined ? job.ownerId : by.ownerId;
    const { job: row, created } = await insertJob(trx, newJobOf({ ...by, ...links, ...job, ownerId }));
    if (created) jobsAccepted.inc({ op: job.op.name });
    rows.push(row);
    await alsoInTransaction?.(trx, row.id);
  }
  return rows;
}
