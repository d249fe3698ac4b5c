import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { BatchDeadlinePassed, Batcher } from '../lib/batcher.ts';
import { isDatabaseUnavailable } from '../lib/db/connect.ts';
import { envelopeOf, insertJob, insertJobs, markQueued, staleOutbox, type JobRow, type NewJob } from './jobs-store.ts';
import { jobsAccepted, timedPublish } from '../lib/metrics.ts';
import type { Bus } from '../queues/bus.ts';
import { describe } from '../lib/errors.ts';
import type { Operation } from '../queues/operation.ts';
import { newJobOf, writePlans, type JobPlan, type Requester, type Submission } from './plan.ts';
import { HttpError } from './plugins/errors.ts';

const QUEUED_LINGER_MS = 20;
/**
 * How long a submission waits for its job to commit. Normally milliseconds; a database that
 * does not answer (frozen, partitioned) must not hold the caller, nor everyone queued behind
 * the one INSERT in flight, for as long as it stays silent.
 */
const SUBMIT_DEADLINE_MS = 2_000;

/**
 * The transactional outbox: a job is committed first (status `accepted`), published with
 * a broker confirm afterwards, and only then `queued`. A crash in between leaves it
 * `accepted`, where `reconcile` finds and publishes it again; handlers are idempotent.
 */
export class Outbox {
  private confirmed: string[] = [];
  private flushing: Promise<void> | null = null;
  /** Lone jobs (no other write goes with them) of concurrent requests share one INSERT and one commit. */
  private readonly lone: Batcher<NewJob, { job: JobRow; created: boolean }>;

  constructor(
    private readonly db: Knex,
    private readonly bus: Bus,
    private readonly log: Logger,
  ) {
    this.lone = new Batcher((jobs) => insertJobs(this.db, jobs), { splitOnError: (error) => !isDatabaseUnavailable(error) });
  }

  /**
   * Commits the job and publishes it. Past the deadline the caller gets 503: either the job
   * was certainly not written, or (its commit was under way) the 503 names the job, which
   * may still commit; it is then published as usual, and `GET /v1/jobs/{id}` or a retry with
   * the same Idempotency-Key finds it. Handlers are idempotent, so a blind retry is safe too.
   */
  async submit<O extends Operation>(s: Submission<O>): Promise<{ job: JobRow; created: boolean }> {
    const job = newJobOf(s);
    // A lone INSERT is atomic by itself; a transaction only when other writes go with it.
    const outcome = s.alsoInTransaction ? await this.insertWith(job, s) : await this.insertLone(job, s);
    if (outcome.created) this.publish([outcome.job]);
    return outcome;
  }

  /** A job with no other write: it shares its INSERT and commit with concurrent requests'. */
  private async insertLone(job: NewJob, s: Submission): Promise<{ job: JobRow; created: boolean }> {
    try {
      const outcome = await this.lone.add(job, { deadlineMs: SUBMIT_DEADLINE_MS, late: (late) => this.committedLate(late, s) });
      if (outcome.created) jobsAccepted.inc({ op: s.op.name });
      return outcome;
    } catch (error) {
      if (error instanceof BatchDeadlinePassed) throw this.tooLate(job.id, error.inFlight);
      throw error;
    }
  }

  /** A job with the writes that must commit with it; never committed once its caller was answered. */
  private async insertWith(job: NewJob, s: Submission): Promise<{ job: JobRow; created: boolean }> {
    let answered = false;
    let committing = false;
    const work = this.db.transaction(async (trx) => {
      const inserted = await insertJob(trx, job);
      if (inserted.created) await s.alsoInTransaction!(trx, inserted.job.id);
      if (answered) throw new Error('the caller was answered 503 already');
      committing = true;
      return inserted;
    });
    const outcome = await new Promise<{ job: JobRow; created: boolean }>((resolve, reject) => {
      const timer = setTimeout(() => {
        answered = true;
        reject(this.tooLate(job.id, committing));
        work.then(
          (late) => this.committedLate(late, s),
          () => undefined,
        );
      }, SUBMIT_DEADLINE_MS);
      work.then(resolve, reject).finally(() => clearTimeout(timer));
    });
    if (outcome.created) jobsAccepted.inc({ op: s.op.name });
    return outcome;
  }

  /** The deadline passed: the caller gets 503, saying whether its job may exist all the same. */
  private tooLate(jobId: string, mayCommit: boolean): HttpError {
    const waited = `the database is unavailable (no answer within ${SUBMIT_DEADLINE_MS / 1000} s)`;
    this.log.warn({ jobId, mayCommit }, 'submission past its deadline');
    return new HttpError(
      503,
      'unavailable',
      mayCommit
        ? `${waited} while job ${jobId} was being committed: it may still be accepted once the database answers (GET /v1/jobs/${jobId} tells; 404 means it was not)`
        : `${waited}; the job was not accepted; try again shortly`,
    );
  }

  /** A job whose caller got 503 committed after all: it is accepted, so it runs. */
  private committedLate(outcome: { job: JobRow; created: boolean }, s: Submission): void {
    if (!outcome.created) return;
    jobsAccepted.inc({ op: s.op.name });
    this.log.warn({ jobId: outcome.job.id, op: s.op.name }, 'a job committed after its caller was answered 503; publishing it');
    this.publish([outcome.job]);
  }

  /**
   * Writes a job in `accepted` with the caller's connection or transaction; the caller
   * publishes it after the commit (`publish`). For changes that fan out into several jobs.
   */
  async insert<O extends Operation>(db: Knex, s: Omit<Submission<O>, 'alsoInTransaction'>): Promise<{ job: JobRow; created: boolean }> {
    const outcome = await insertJob(db, newJobOf(s as Submission));
    if (outcome.created) jobsAccepted.inc({ op: s.op.name });
    return outcome;
  }

  /**
   * A change that fans out into jobs: `planner` writes the desired state and plans the jobs in
   * ONE transaction with them; they are published after the commit (the reconciler covers a
   * crash in between).
   */
  async submitPlans(by: Requester, planner: (trx: Knex.Transaction) => Promise<readonly JobPlan[]>): Promise<JobRow[]> {
    const rows = await this.db.transaction(async (trx) => writePlans(trx, await planner(trx), by));
    this.publish(rows);
    return rows;
  }

  /** Publish committed jobs; failures stay in the outbox for `reconcile`. Never throws. */
  publish(jobs: readonly JobRow[]): void {
    if (!this.bus.isReady()) return;
    for (const job of jobs) {
      timedPublish('op', () => this.bus.publishOp(envelopeOf(job)))
        .then(() => this.confirm(job.id))
        .catch((error) => this.log.debug({ jobId: job.id, err: describe(error) }, 'publish failed; the reconciler will retry'));
    }
  }

  /**
   * Republish jobs that stayed `accepted` longer than `olderThanMs`, `batch` at a time (all of a
   * batch in flight at once), until none is left or the broker stops confirming: after an
   * outage the backlog goes out at the broker's pace, not one batch per round. Returns how many.
   * (Jobs further along whose next step is overdue are the watchdog's: schedulers/watchdog.ts.)
   */
  async reconcile(olderThanMs = 2_000, batch = 500): Promise<number> {
    let total = 0;
    while (this.bus.isReady()) {
      const stale = await staleOutbox(this.db, olderThanMs, batch);
      if (stale.length === 0) break;
      const results = await Promise.allSettled(stale.map((job) => this.bus.publishOp(envelopeOf(job)).then(() => job.id)));
      const published = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      await markQueued(this.db, published);
      total += published.length;
      if (stale.length < batch || published.length < stale.length) break;
    }
    if (total > 0) this.log.info({ count: total }, 'republished jobs left in the outbox');
    return total;
  }

  /** Waits until every confirm seen so far is written (for shutdown and tests). */
  async drain(): Promise<void> {
    while (this.flushing || this.confirmed.length > 0) await (this.flushing ?? this.flush());
  }

  private confirm(id: string): void {
    this.confirmed.push(id);
    if (!this.flushing) this.flushing = new Promise((resolve) => setTimeout(resolve, QUEUED_LINGER_MS)).then(() => this.flush());
  }

  /**
   * Confirms arrive one by one; marking them queued goes in batches. It is bookkeeping off the
   * job's path (handlers may have finished it already), so confirms of 20 ms share one UPDATE.
   */
  private async flush(): Promise<void> {
    try {
      while (this.confirmed.length > 0) {
        const batch = this.confirmed.splice(0, 500);
        await markQueued(this.db, batch).catch((error) =>
          this.log.warn(
            { err: describe(error), count: batch.length },
            'could not mark jobs queued (they stay accepted and are republished)',
          ),
        );
      }
    } finally {
      this.flushing = null;
    }
  }
}
