import type { AlarmRow } from '../lib/db/health.ts';
import type { DeadLetterRow, JobEventRow, JobRow } from '../lib/db/jobs.ts';
import { isFinal } from '../queues/job-status.ts';

export const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

/** A job row as the API shows it. */
export function jobView(job: JobRow, events?: JobEventRow[]) {
  return {
    id: job.id,
    op: job.op,
    status: job.status,
    tenant: job.tenant,
    actor: job.actor,
    attempt: job.attempt,
    maxAttempts: job.max_attempts,
    payload: job.payload,
    result: job.result ?? null,
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
    status: e.status,
    at: iso(e.at)!,
    handler: e.handler_host === null ? null : { host: e.handler_host, pid: e.handler_pid ?? 0 },
    target: e.target,
    durationMs: e.duration_ms,
    message: e.message,
  };
}

/** A job's final transition is kept on its row (see applyResultEvents), after the others. */
function withFinalEvent(job: JobRow, events: JobEventRow[]): JobEventRow[] {
  if (!isFinal(job.status) || !job.finished_at) return events;
  if (events.some((e) => e.attempt === job.attempt && e.status === job.status)) return events;
  const final: JobEventRow = {
    job_id: job.id,
    attempt: job.attempt,
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
