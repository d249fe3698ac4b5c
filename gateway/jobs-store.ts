import type { Knex } from 'knex';
import { ENVELOPE_VERSION, type Envelope } from '../queues/envelope.ts';
import { FINAL_STATUSES, type JobStatus } from '../queues/job-status.ts';
import type { ResultEvent } from '../queues/result-event.ts';
import { prepared } from '../lib/db/prepared.ts';

export interface JobRow {
  id: string;
  op: string;
  payload_version: number;
  status: JobStatus;
  tenant: string | null;
  actor: string;
  payload: unknown;
  attempt: number;
  max_attempts: number;
  correlation_id: string;
  idempotency_key: string | null;
  /** users.id of whoever the change was for: they may see the job (admins see all). */
  owner_id: string | null;
  retry_of: string | null;
  target: string | null;
  generation: number | null;
  /** The id of the resource the job acts on (a DNS op's zone), where its route recorded it. */
  resource_id: string | null;
  result: unknown;
  error: { kind: string; message: string; code?: string } | null;
  deadline: Date | null;
  created_at: Date;
  updated_at: Date;
  published_at: Date | null;
  finished_at: Date | null;
  /** Who reported the job's current status, and how long that attempt took. */
  handler_host: string | null;
  handler_pid: number | null;
  duration_ms: number | null;
  /** When `retrying`: when the next attempt is due (the watchdog sends it again when it is late). */
  next_attempt_at: Date | null;
  /** How often the watchdog sent the job's next step again since the job last moved on. */
  resent: number;
}

export interface JobEventRow {
  job_id: string;
  attempt: number;
  status: string;
  at: Date;
  handler_host: string | null;
  handler_pid: number | null;
  target: string | null;
  duration_ms: number | null;
  message: string | null;
  /** Which run of the attempt reported (null: recorded before runs were counted, i.e. the first). */
  delivery: number | null;
}

export type NewJob = Pick<JobRow, 'id' | 'op' | 'payload_version' | 'tenant' | 'actor' | 'payload' | 'max_attempts' | 'correlation_id'> &
  Partial<Pick<JobRow, 'idempotency_key' | 'owner_id' | 'retry_of' | 'target' | 'generation' | 'deadline' | 'resource_id'>>;

const FINAL = [...FINAL_STATUSES];

/** Order of statuses within one attempt; a later attempt always wins. */
const RANK_SQL = (column: string) =>
  `CASE ${column} WHEN 'accepted' THEN 0 WHEN 'queued' THEN 0 WHEN 'running' THEN 1 WHEN 'retrying' THEN 2 ELSE 3 END`;
const rank = (status: string) => ({ accepted: 0, queued: 0, running: 1, retrying: 2 })[status] ?? 3;

/**
 * Inserts a job in `accepted` (the outbox state). With an idempotency key already used by
 * the same actor, returns that earlier job instead and `created: false`.
 */
export async function insertJob(db: Knex, job: NewJob): Promise<{ job: JobRow; created: boolean }> {
  return (await insertJobs(db, [job]))[0];
}

/**
 * The columns a new job is written with, read from one JSON array: a batch of any size is one
 * statement with one parameter (no per-row placeholders to number and bind).
 */
const INSERT_JOBS_SQL = `
INSERT INTO jobs (id, op, payload_version, status, tenant, actor, payload, max_attempts, correlation_id,
                  idempotency_key, owner_id, retry_of, target, generation, deadline, resource_id)
SELECT id, op, payload_version, 'accepted', tenant, actor, payload, max_attempts, correlation_id,
       idempotency_key, owner_id, retry_of, target, generation, deadline, resource_id
  FROM json_to_recordset(?::json) AS j(id uuid, op text, payload_version int, tenant text, actor text, payload jsonb,
       max_attempts int, correlation_id text, idempotency_key text, owner_id uuid, retry_of uuid, target text,
       generation int, deadline timestamptz, resource_id uuid)
ON CONFLICT (actor, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id, created_at`;
const insertJobsStatement = prepared<{ id: string; created_at: Date }>('up_insert_jobs', INSERT_JOBS_SQL);

/** The row a new job became: what was written, and what the database filled in. */
function acceptedRow(job: NewJob, createdAt: Date): JobRow {
  return {
    idempotency_key: null,
    owner_id: null,
    retry_of: null,
    target: null,
    generation: null,
    deadline: null,
    resource_id: null,
    ...job,
    status: 'accepted',
    attempt: 0,
    result: null,
    error: null,
    created_at: createdAt,
    updated_at: createdAt,
    published_at: null,
    finished_at: null,
    handler_host: null,
    handler_pid: null,
    duration_ms: null,
    next_attempt_at: null,
    resent: 0,
  };
}

/**
 * `insertJob` for many jobs in one statement (one commit for a batch of requests); answers in
 * the order given. Two jobs of one batch with the same actor and key are one job.
 */
export async function insertJobs(db: Knex, jobs: readonly NewJob[]): Promise<{ job: JobRow; created: boolean }[]> {
  // Only what the database decides comes back: the rest is the job as written.
  const inserted = await insertJobsStatement(db, [JSON.stringify(jobs)]);
  const createdAt = new Map(inserted.map((row) => [row.id, row.created_at]));
  const keyed = (actor: string, key: string | null | undefined) => `${actor}\0${key}`;
  const others = jobs.filter((job) => !createdAt.has(job.id));
  const earlier = new Map<string, JobRow>();
  if (others.length > 0) {
    const rows: JobRow[] = await db('jobs').whereIn(
      ['actor', 'idempotency_key'],
      others.map((job) => [job.actor, job.idempotency_key ?? null]),
    );
    for (const row of rows) earlier.set(keyed(row.actor, row.idempotency_key), row);
  }
  return jobs.map((job) => {
    const at = createdAt.get(job.id);
    if (at) return { job: acceptedRow(job, at), created: true };
    const existing = earlier.get(keyed(job.actor, job.idempotency_key));
    if (!existing) throw new Error('idempotent insert found neither a new nor an existing job');
    return { job: existing, created: false };
  });
}

export function envelopeOf(job: JobRow, attempt = 1): Envelope {
  return {
    v: ENVELOPE_VERSION,
    id: job.id,
    op: job.op,
    payloadVersion: job.payload_version,
    tenant: job.tenant,
    actor: job.actor,
    attempt,
    correlationId: job.correlation_id,
    requestedAt: new Date(job.created_at).toISOString(),
    deadline: job.deadline ? new Date(job.deadline).toISOString() : null,
    ...(job.generation !== null ? { generation: job.generation } : {}),
    ...(job.target !== null ? { target: job.target } : {}),
    payload: job.payload,
  };
}

/** The broker confirmed these jobs: they leave the outbox (one that already ended keeps its status). */
export async function markQueued(db: Knex, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await markQueuedStatement(db, [JSON.stringify(ids)]);
}
const markQueuedStatement = prepared(
  'up_mark_queued',
  `UPDATE jobs SET status = 'queued', published_at = now(), updated_at = now()
    WHERE id IN (SELECT value::uuid FROM json_array_elements_text(?::json)) AND status = 'accepted'`,
);

/** Accepted jobs that nobody published within `olderThanMs` (a crash between commit and publish). */
export function staleOutbox(db: Knex, olderThanMs: number, limit: number): Promise<JobRow[]> {
  return db('jobs')
    .where('status', 'accepted')
    .andWhere('created_at', '<', db.raw(`now() - (? * interval '1 millisecond')`, [olderThanMs]))
    .orderBy('created_at')
    .limit(limit);
}

/** When a job's next step is overdue, per operation (see schedulers/watchdog.ts). */
export interface OverdueRule {
  op: string;
  /** `retrying` jobs recorded without a due time: the longest retry delay after their last update. */
  retryMs: number;
  /** `queued` or `running` this long since the last update: every run the broker allows has timed out. */
  stuckMs: number;
}

/**
 * Jobs whose next step should have happened more than `graceMs` ago: a `retrying` job whose next
 * attempt did not start, a `queued` or `running` one that outlived every run the broker allows
 * it. Oldest first. Found through the (status, created_at) index: few jobs are unfinished.
 */
export async function overdueJobs(db: Knex, rules: readonly OverdueRule[], graceMs: number, limit: number): Promise<JobRow[]> {
  const rows = rules.map((r) => ({ op: r.op, retry_ms: r.retryMs, stuck_ms: r.stuckMs }));
  const { rows: jobs } = (await db.raw(
    `SELECT j.* FROM jobs j JOIN json_to_recordset(?::json) AS r(op text, retry_ms bigint, stuck_ms bigint) ON r.op = j.op
      WHERE j.status IN ('queued', 'running', 'retrying')
        AND CASE WHEN j.status = 'retrying'
                 THEN COALESCE(j.next_attempt_at, j.updated_at + r.retry_ms * interval '1 millisecond')
                 ELSE j.updated_at + r.stuck_ms * interval '1 millisecond' END < now() - ? * interval '1 millisecond'
      ORDER BY j.updated_at
      LIMIT ?`,
    [JSON.stringify(rows), graceMs, limit],
  )) as { rows: JobRow[] };
  return jobs;
}

/**
 * The watchdog sent these jobs' next step again: it counts, and they are overdue again only
 * after `lookAgainMs` more (a `retrying` job's next attempt is now in the operation's queue).
 */
export async function markResent(db: Knex, jobs: readonly { id: string; lookAgainMs: number }[]): Promise<void> {
  if (jobs.length === 0) return;
  await db.raw(
    `UPDATE jobs AS j SET resent = j.resent + 1, updated_at = now(),
            next_attempt_at = CASE WHEN j.status = 'retrying' THEN now() + r.look_again_ms * interval '1 millisecond' END
       FROM json_to_recordset(?::json) AS r(id uuid, look_again_ms bigint)
      WHERE j.id = r.id AND j.status IN ('queued', 'running', 'retrying')`,
    [JSON.stringify(jobs.map((j) => ({ id: j.id, look_again_ms: j.lookAgainMs })))],
  );
}

/** Ends jobs that no handler will ever finish: `dead`, with the reason, as the broker's own dead letters are. */
export async function giveUpJobs(db: Knex, jobs: readonly { id: string; reason: string }[]): Promise<number> {
  if (jobs.length === 0) return 0;
  const { rows } = (await db.raw(
    `UPDATE jobs AS j SET status = 'dead', error = json_build_object('kind', 'unknown', 'message', r.reason)::jsonb,
            handler_host = NULL, handler_pid = NULL, duration_ms = NULL, next_attempt_at = NULL,
            finished_at = now(), updated_at = now()
       FROM json_to_recordset(?::json) AS r(id uuid, reason text)
      WHERE j.id = r.id AND j.status NOT IN (${FINAL_SQL})
  RETURNING j.id`,
    [JSON.stringify(jobs)],
  )) as { rows: { id: string }[] };
  return rows.length;
}

/** Jobs the watchdog had to send again that have not finished since: the stuck-job check's finding. */
export async function resentUnfinished(
  db: Knex,
): Promise<{ count: number; oldest: Pick<JobRow, 'id' | 'op' | 'status' | 'created_at'> | null }> {
  const [oldest] = await db('jobs')
    .whereIn('status', ['queued', 'running', 'retrying'])
    .andWhere('resent', '>', 0)
    .orderBy('created_at')
    .limit(1)
    .select('id', 'op', 'status', 'created_at');
  if (!oldest) return { count: 0, oldest: null };
  const row = await db('jobs')
    .whereIn('status', ['queued', 'running', 'retrying'])
    .andWhere('resent', '>', 0)
    .count<{ count: string }[]>({ count: '*' })
    .first();
  return { count: Number(row?.count ?? 0), oldest };
}

export async function outboxBacklog(db: Knex): Promise<number> {
  const row = await db('jobs').where('status', 'accepted').count<{ count: string }[]>({ count: '*' }).first();
  return Number(row?.count ?? 0);
}

export function getJob(db: Knex, id: string): Promise<JobRow | undefined> {
  return db('jobs').where({ id }).first();
}

export function jobEvents(db: Knex, id: string): Promise<JobEventRow[]> {
  return db('job_events')
    .where({ job_id: id })
    .orderBy([{ column: 'at' }, { column: 'id' }]);
}

const FINAL_SQL = FINAL.map((status) => `'${status}'`).join(', ');

/**
 * One statement for a whole batch (atomic by itself: no BEGIN/COMMIT round trips). The
 * winning event of each job updates its row; a final one stays there (handler, duration)
 * and is not repeated in job_events, which keep every other transition, and every run of an
 * attempt: an outcome of a run other than the one on the row, or of a redelivered run (so that
 * the history shows it ran before), is an event of its own. A `retrying` job notes when its
 * next attempt is due, for the watchdog. Jobs are looked up
 * by `id = ANY(...)`: joined on the batch alone, the planner, which guesses 100 rows for
 * json_to_recordset, chose to scan the whole jobs table while its statistics were young.
 */
const RECORD_RESULTS_SQL = `
WITH e AS (
  SELECT * FROM json_to_recordset(?::json) AS e(
    job_id uuid, attempt int, delivery int, status text, at timestamptz, handler_host text, handler_pid int,
    target text, duration_ms int, message text, result jsonb, error jsonb, retry_in_ms int, latest boolean)
), won AS (
  UPDATE jobs AS j
     SET status = e.status, attempt = e.attempt, result = COALESCE(e.result, j.result), error = e.error,
         updated_at = now(), finished_at = CASE WHEN e.status IN (${FINAL_SQL}) THEN e.at ELSE j.finished_at END,
         handler_host = e.handler_host, handler_pid = e.handler_pid, duration_ms = e.duration_ms,
         next_attempt_at = CASE WHEN e.status = 'retrying' THEN now() + e.retry_in_ms * interval '1 millisecond' END,
         resent = CASE WHEN j.attempt < e.attempt THEN 0 ELSE j.resent END
    FROM e
   WHERE j.id = ANY (ARRAY(SELECT job_id FROM e WHERE latest)) AND j.id = e.job_id AND e.latest
     AND j.status NOT IN (${FINAL_SQL})
     AND (j.attempt < e.attempt OR (j.attempt = e.attempt AND ${RANK_SQL('j.status')} < ${RANK_SQL('e.status')}))
  RETURNING j.id, j.status, j.attempt, j.finished_at
)
INSERT INTO job_events (job_id, attempt, delivery, status, at, handler_host, handler_pid, target, duration_ms, message)
SELECT e.job_id, e.attempt, e.delivery, e.status, e.at, e.handler_host, e.handler_pid, e.target, e.duration_ms, e.message
  FROM e JOIN jobs ON jobs.id = e.job_id
 WHERE jobs.id = ANY (ARRAY(SELECT job_id FROM e))
   AND NOT (e.status IN (${FINAL_SQL}) AND e.delivery = 1 AND (
         (jobs.status = e.status AND jobs.attempt = e.attempt AND jobs.finished_at = e.at)
         OR EXISTS (SELECT 1 FROM won WHERE won.id = e.job_id AND won.status = e.status AND won.attempt = e.attempt AND won.finished_at = e.at)))
ON CONFLICT (job_id, attempt, status, at) DO NOTHING`;
const recordResultsStatement = prepared('up_record_results', RECORD_RESULTS_SQL);

/**
 * The common batch, every event the outcome of a job not final yet (quick jobs report only
 * that) from the first run of its attempt: the row update alone. Events it did not apply
 * (duplicates, late arrivals) and outcomes of later runs go through RECORD_RESULTS_SQL, which
 * decides what history they add.
 */
const RECORD_OUTCOMES_SQL = `
WITH e AS (
  SELECT * FROM json_to_recordset(?::json) AS e(
    job_id uuid, attempt int, status text, at timestamptz, handler_host text, handler_pid int,
    duration_ms int, result jsonb, error jsonb)
)
UPDATE jobs AS j
   SET status = e.status, attempt = e.attempt, result = COALESCE(e.result, j.result), error = e.error,
       updated_at = now(), finished_at = e.at,
       handler_host = e.handler_host, handler_pid = e.handler_pid, duration_ms = e.duration_ms
  FROM e
 WHERE j.id = ANY (ARRAY(SELECT job_id FROM e)) AND j.id = e.job_id
   AND j.status NOT IN (${FINAL_SQL}) AND j.attempt <= e.attempt
RETURNING j.id`;
const recordOutcomesStatement = prepared<{ id: string }>('up_record_outcomes', RECORD_OUTCOMES_SQL);

/** An attempt that ran before: its history must show this run as one of its own. */
const isRerun = (e: ResultEvent) => e.delivery !== undefined && e.delivery > 1;

const outcomeRow = (e: ResultEvent) => ({
  job_id: e.jobId,
  attempt: e.attempt,
  status: e.status,
  at: e.at,
  handler_host: e.handler.host,
  handler_pid: e.handler.pid,
  duration_ms: e.durationMs === undefined ? null : Math.round(e.durationMs),
  result: e.result ?? null,
  error: e.error ?? null,
});

/**
 * Folds result events into job rows and keeps the transitions. Safe against duplicates
 * (one event per job, attempt and status) and reordering (a final status is never left;
 * within a job, a later attempt or a later step of the same attempt wins). Events of jobs
 * this database does not know are skipped.
 */
export async function applyResultEvents(db: Knex, batch: readonly ResultEvent[]): Promise<void> {
  let events = batch;
  if (events.length === 0) return;
  const latest = new Map<string, ResultEvent>();
  for (const event of events) {
    const seen = latest.get(event.jobId);
    if (!seen || event.attempt > seen.attempt || (event.attempt === seen.attempt && rank(event.status) > rank(seen.status))) {
      latest.set(event.jobId, event);
    }
  }
  if (latest.size === events.length && events.every((e) => FINAL_STATUSES.has(e.status))) {
    const firstRuns = events.some(isRerun) ? events.filter((e) => !isRerun(e)) : events;
    if (firstRuns.length > 0) {
      const applied = new Set((await recordOutcomesStatement(db, [JSON.stringify(firstRuns.map(outcomeRow))])).map((row) => row.id));
      events = events.filter((e) => !applied.has(e.jobId));
      if (events.length === 0) return;
    }
  }
  const rows = events.map((e) => ({
    ...outcomeRow(e),
    delivery: e.delivery ?? 1,
    target: e.target ?? null,
    message: e.error?.message ?? null,
    retry_in_ms: e.retryInMs ?? null,
    latest: latest.get(e.jobId) === e,
  }));
  await recordResultsStatement(db, [JSON.stringify(rows)]);
}

export interface DeadLetterRow {
  id: string;
  job_id: string | null;
  op: string | null;
  reason: string;
  /** The message's bytes as the broker delivered them (a Buffer from pg, a Uint8Array from PGlite). */
  content: Uint8Array;
  dead_at: Date;
  replayed_at: Date | null;
  replay_job_id: string | null;
}

/**
 * Keeps a dead letter. With `markJobDead` (the broker gave up on it, so no handler reported
 * an outcome) its job, when not final yet, becomes `dead`.
 */
export async function recordDeadLetter(
  db: Knex,
  letter: Omit<DeadLetterRow, 'dead_at' | 'replayed_at' | 'replay_job_id'>,
  options: { markJobDead: boolean },
): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('dead_letters').insert(letter).onConflict('id').ignore();
    if (letter.job_id && options.markJobDead) {
      await trx('jobs')
        .where('id', letter.job_id)
        .whereNotIn('status', FINAL)
        .update({
          status: 'dead',
          error: JSON.stringify({ kind: 'unknown', message: letter.reason }),
          // No handler reported this outcome: the broker did.
          handler_host: null,
          handler_pid: null,
          duration_ms: null,
          finished_at: trx.fn.now(),
          updated_at: trx.fn.now(),
        });
    }
  });
}
