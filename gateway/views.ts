import type { AlarmRow } from './health/store.ts';
import type { DeadLetterRow, JobEventRow, JobRow } from './jobs-store.ts';
import { findOperation } from '../queues/catalogue.ts';
import { isFinal } from '../queues/job-status.ts';
import { scrubHosts } from '../queues/tenant-view.ts';
import type { Caller } from './plugins/auth.ts';
import { redactor } from './redact.ts';

export const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

/** Who looks: admins see a job whole, users (tenants) see it without the infrastructure. */
export type Viewer = Pick<Caller, 'role'>;

/** A job row as the API shows it to `viewer`. */
export function jobView(job: JobRow, viewer: Viewer, events?: JobEventRow[]): JobView {
  const view = wholeJob(job, events);
  return viewer.role === 'admin' ? view : forUser(job, view);
}

type JobView = ReturnType<typeof wholeJob>;

function wholeJob(job: JobRow, events?: JobEventRow[]) {
  return {
    id: job.id,
    op: job.op,
    status: job.status,
    tenant: job.tenant,
    actor: job.actor,
    attempt: job.attempt,
    maxAttempts: job.max_attempts,
    payload: job.payload as unknown,
    result: (job.result ?? null) as unknown,
    error: job.error ?? null,
    correlationId: job.correlation_id,
    retryOf: job.retry_of,
    target: job.target,
    createdAt: iso(job.created_at)!,
    updatedAt: iso(job.updated_at)!,
    finishedAt: iso(job.finished_at),
    ...(events ? { events: withFinalEvent(job, events).map(eventView) } : {}),
  };
}

function eventView(e: JobEventRow) {
  return {
    attempt: e.attempt,
    delivery: e.delivery ?? 1,
    status: e.status,
    at: iso(e.at)!,
    handler: e.handler_host === null ? null : { host: e.handler_host, pid: e.handler_pid ?? 0 },
    target: e.target,
    durationMs: e.duration_ms,
    message: e.message,
  };
}

/**
 * A user's view: the payload as the operation shows it to users (none if it declares no view),
 * any host in it reduced to its name, and the free text (error, events, target) without what
 * that view left out. Which machine ran the handler is not theirs to know either.
 */
function forUser(job: JobRow, view: JobView): JobView {
  const op = findOperation(job.op);
  const payload = userPayload(job);
  const redact = redactor(job.payload, payload);
  const text = (value: string | null) => (value === null ? null : redact(value));
  return {
    ...view,
    payload,
    result: op?.tenantView ? scrubHosts(view.result) : null,
    error: view.error && { ...view.error, message: redact(view.error.message) },
    target: text(view.target),
    ...(view.events ? { events: view.events.map((e) => ({ ...e, handler: null, target: text(e.target), message: text(e.message) })) } : {}),
  };
}

/** The payload as the job's operation shows it to users, any host in it reduced to its name; null if it shows none. */
function userPayload(job: Pick<JobRow, 'op' | 'payload'>): unknown {
  const op = findOperation(job.op);
  try {
    return op?.tenantView && job.payload ? scrubHosts(op.tenantView(job.payload as never)) : null;
  } catch {
    return null; // a payload of another version than this gateway reads: nothing shown
  }
}

/** Free text about `job` (its error, say) as users may read it: without what their view of the payload leaves out. */
export const userText = (job: Pick<JobRow, 'op' | 'payload'>): ((text: string) => string) => redactor(job.payload, userPayload(job));

/**
 * A job's final transition is kept on its row (see applyResultEvents), after the others; other
 * runs that reported the same outcome, and redelivered runs, are events of their own.
 */
function withFinalEvent(job: JobRow, events: JobEventRow[]): JobEventRow[] {
  if (!isFinal(job.status) || !job.finished_at) return events;
  const finishedAt = new Date(job.finished_at).getTime();
  if (events.some((e) => e.attempt === job.attempt && e.status === job.status && new Date(e.at).getTime() === finishedAt)) return events;
  const final: JobEventRow = {
    job_id: job.id,
    attempt: job.attempt,
    delivery: 1,
    status: job.status,
    at: job.finished_at,
    handler_host: job.handler_host,
    handler_pid: job.handler_pid,
    target: job.target,
    duration_ms: job.duration_ms,
    message: job.error?.message ?? null,
  };
  return [...events, final].sort((a, b) => new Date(a.at).getTime() - new Date(b.at).getTime());
}

export function deadLetterView(letter: DeadLetterRow) {
  return {
    id: letter.id,
    jobId: letter.job_id,
    op: letter.op,
    reason: letter.reason,
    deadAt: iso(letter.dead_at)!,
    replayedAt: iso(letter.replayed_at),
    replayJobId: letter.replay_job_id,
  };
}

/** An alarm as the API shows it, and as the webhook receives it. */
export function alarmView(a: AlarmRow) {
  return {
    id: a.id,
    resource: { type: a.resource_type, key: a.resource_key },
    cause: a.cause,
    message: a.message,
    status: a.status,
    count: a.count,
    firstSeen: iso(a.first_seen)!,
    lastSeen: iso(a.last_seen)!,
    clearedAt: iso(a.cleared_at),
    ackedAt: iso(a.acked_at),
    ackedBy: a.acked_by,
  };
}
