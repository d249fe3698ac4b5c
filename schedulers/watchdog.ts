import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { recordCheck } from '../gateway/health/store.ts';
import { envelopeOf, giveUpJobs, markResent, overdueJobs, resentUnfinished, type JobRow, type OverdueRule } from '../gateway/jobs-store.ts';
import type { Bus } from '../queues/bus.ts';
import { describe } from '../lib/errors.ts';
import type { Operation } from '../queues/operation.ts';
import { RECORDER_QUEUE, opQueue } from '../queues/topology.ts';

/** How often the watchdog sends one step of a job again before it gives the job up as `dead`. */
export const MAX_RESENDS = 3;
/** The stuck-job check, as the health of the pipeline. */
export const STUCK_JOBS = { type: 'pipeline', key: 'jobs' };

export interface WatchdogReport {
  /** Overdue jobs found. */
  overdue: number;
  /** Their next step was sent again. */
  resent: number;
  /** Given up as `dead`: sent again too often, or past their deadline. */
  gaveUp: number;
  /** Overdue, but their operation's queue still holds messages: they may be among them. */
  waiting: number;
}

/**
 * When an operation's jobs are overdue. A run lasts at most `timeoutMs`, and the broker hands a
 * message out at most `deliveryLimit` + 1 times (it dead-letters when the count exceeds the limit).
 */
export function overdueRules(operations: readonly Operation[]): OverdueRule[] {
  return operations.map((op) => ({
    op: op.name,
    retryMs: Math.max(...op.retry.tiersMs),
    stuckMs: op.timeoutMs * (op.queue.deliveryLimit + 1),
  }));
}

/**
 * Every job whose next step is overdue gets it again: the next attempt of a `retrying` job whose
 * parked message never came back, the current attempt of a `queued` or `running` job that no
 * handler finished (a lost message, a dropped outcome). Handlers are idempotent, so a step that
 * was only late runs twice, which its history shows. After MAX_RESENDS sends, or past its
 * deadline, a job is given up as `dead` with the reason. Jobs of an operation whose queue still
 * holds messages wait: in a backlog, late is not lost, and sending them again would grow it. So
 * does everything while the recorder is behind or away: their outcomes may be on their way.
 */
export async function watchOverdueJobs(options: {
  db: Knex;
  bus: Bus;
  log: Logger;
  graceMs: number;
  limit?: number;
}): Promise<WatchdogReport> {
  const { db, bus, log, graceMs } = options;
  const rules = overdueRules(bus.operations);
  const stuckMs = new Map(rules.map((rule) => [rule.op, rule.stuckMs]));
  const overdue = await overdueJobs(db, rules, graceMs, options.limit ?? 500);
  const report: WatchdogReport = { overdue: overdue.length, resent: 0, gaveUp: 0, waiting: 0 };
  if (overdue.length === 0) return report;

  // Outcomes not recorded yet may be waiting for the recorder: nothing is overdue until it caught up.
  const results = await bus.transport.queueStats(RECORDER_QUEUE).catch(() => null);
  if (!results || results.ready > 0 || results.consumers === 0) return { ...report, waiting: overdue.length };
  const backlogged = new Set<string>();
  for (const op of new Set(overdue.map((job) => job.op))) {
    const stats = await bus.transport.queueStats(opQueue(op)).catch(() => null);
    if (!stats || stats.ready > 0) backlogged.add(op);
  }
  const now = Date.now();
  const giveUp: { id: string; reason: string }[] = [];
  const resend: JobRow[] = [];
  for (const job of overdue) {
    if (backlogged.has(job.op)) report.waiting++;
    else if (job.deadline && new Date(job.deadline).getTime() < now)
      giveUp.push({ id: job.id, reason: `stuck in ${job.status} past its deadline (${new Date(job.deadline).toISOString()})` });
    else if (job.resent >= MAX_RESENDS)
      giveUp.push({
        id: job.id,
        reason: `stuck in ${job.status}: no handler reported on it, although it was sent ${job.resent} more times`,
      });
    else resend.push(job);
  }

  const sent = await Promise.all(
    resend.map(async (job) => {
      // A retrying job's next attempt; otherwise the attempt it is at (a queued job has not started one).
      const attempt = job.status === 'retrying' ? job.attempt + 1 : Math.max(job.attempt, 1);
      try {
        await bus.publishOp(envelopeOf(job, attempt), { resent: job.resent + 1 });
        // Sent again, it is overdue again once this run too could have timed out everywhere.
        return { id: job.id, lookAgainMs: stuckMs.get(job.op)! };
      } catch (error) {
        log.debug({ jobId: job.id, err: describe(error) }, 'could not send an overdue job again; the next round will');
        return null;
      }
    }),
  );
  const published = sent.filter((s) => s !== null);
  await markResent(db, published);
  report.resent = published.length;
  report.gaveUp = await giveUpJobs(db, giveUp);
  if (report.resent > 0) log.warn({ count: report.resent, jobs: published.slice(0, 10).map((j) => j.id) }, 'sent overdue jobs again');
  if (report.gaveUp > 0) log.error({ count: report.gaveUp, jobs: giveUp.slice(0, 10) }, 'gave up stuck jobs as dead');
  return report;
}

/**
 * The stuck-job check: unhealthy in a round where the watchdog had to send jobs again or give
 * them up, and as long as a job it sent again has not finished. One alarm for all of them
 * (cause `stuck-jobs`), raised at once: a stuck job is never a blip. Something lost them.
 */
export async function recordStuckJobs(db: Knex, report: WatchdogReport, at = new Date()): Promise<void> {
  const { count, oldest } = await resentUnfinished(db);
  const problems = [];
  if (count > 0 || report.resent > 0 || report.gaveUp > 0) {
    const parts = [];
    if (report.resent > 0) parts.push(`${report.resent} job(s) did not move on in time and were sent again`);
    if (count > 0) parts.push(`${count} job(s) sent again not finished yet (oldest ${oldest!.id}, ${oldest!.op}, ${oldest!.status})`);
    if (report.gaveUp > 0) parts.push(`${report.gaveUp} stuck job(s) given up as dead`);
    problems.push({ cause: 'stuck-jobs', message: parts.join('; ') });
  }
  await recordCheck(
    db,
    {
      resource: STUCK_JOBS,
      healthy: problems.length === 0,
      problems,
      measurements: {
        overdue: report.overdue,
        resent: report.resent,
        gaveUp: report.gaveUp,
        waiting: report.waiting,
        unfinishedResent: count,
      },
    },
    at,
    { failAfter: 1 },
  );
}
