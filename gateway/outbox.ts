import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { Batcher } from '../lib/batcher.ts';
import { isDatabaseUnavailable } from '../lib/db/connect.ts';
import { newJobId } from '../lib/ids.ts';
import { envelopeOf, insertJob, insertJobs, markQueued, staleOutbox, type JobRow, type NewJob } from '../lib/db/jobs.ts';
import { jobsAccepted, timedPublish } from '../lib/metrics.ts';
import type { Bus } from '../queues/bus.ts';
import { describe } from '../queues/errors.ts';
import type { Operation } from '../queues/operation.ts';

const QUEUED_LINGER_MS = 20;

export interface Submission {
  op: Operation;
  payload: unknown;
  actor: string;
  tenant: string | null;
  /** users.id of the job's owner (who may see it); null: admins only. */
  ownerId?: string | null;
  idempotencyKey?: string | null;
  correlationId?: string;
  retryOf?: string;
  target?: string | null;
  generation?: number | null;
  /** Extra writes (the desired-state change) that must commit together with the job. */
  alsoInTransaction?: (trx: Knex.Transaction, jobId: string) => Promise<void>;
}

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

  async submit(s: Submission): Promise<{ job: JobRow; created: boolean }> {
    // A lone INSERT is atomic by itself; a transaction only when other writes go with it.
    const outcome = s.alsoInTransaction
      ? await this.db.transaction(async (trx) => {
          const inserted = await this.insert(trx, s);
          if (inserted.created) await s.alsoInTransaction!(trx, inserted.job.id);
          return inserted;
        })
      : await this.insertLone(s);
    if (outcome.created) this.publish([outcome.job]);
    return outcome;
  }

  /** A job with no other write: it shares its INSERT and commit with concurrent requests'. */
  private async insertLone(s: Submission): Promise<{ job: JobRow; created: boolean }> {
    const outcome = await this.lone.add(newJobOf(s));
    if (outcome.created) jobsAccepted.inc({ op: s.op.name });
    return outcome;
  }

  /**
   * Writes a job in `accepted` with the caller's connection or transaction; the caller
   * publishes it after the commit (`publish`). For changes that fan out into several jobs.
   */
  async insert(db: Knex, s: Omit<Submission, 'alsoInTransaction'>): Promise<{ job: JobRow; created: boolean }> {
    const outcome = await insertJob(db, newJobOf(s));
    if (outcome.created) jobsAccepted.inc({ op: s.op.name });
    return outcome;
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

  /** Republish jobs that stayed `accepted` longer than `olderThanMs`. Returns how many. */
  async reconcile(olderThanMs = 2_000, limit = 500): Promise<number> {
    if (!this.bus.isReady()) return 0;
    const stale = await staleOutbox(this.db, olderThanMs, limit);
    if (stale.length > 0) this.log.info({ count: stale.length }, 'republishing jobs left in the outbox');
    const results = await Promise.allSettled(stale.map((job) => this.bus.publishOp(envelopeOf(job)).then(() => job.id)));
    const published = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    await markQueued(this.db, published);
    return published.length;
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
          this.log.warn({ err: describe(error), count: batch.length }, 'could not mark jobs queued (they stay accepted and are republished)'),
        );
      }
    } finally {
      this.flushing = null;
    }
  }
}

function newJobOf(s: Omit<Submission, 'alsoInTransaction'>): NewJob {
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
  };
}
