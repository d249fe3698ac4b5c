import type { Knex } from 'knex';
import { newJobId } from '../../lib/ids.ts';
import type { CheckResult, Problem } from '../../queues/health/checks.ts';
import { isFinal, type JobStatus } from '../../queues/job-status.ts';
import { system, writePlans, type JobPlan } from '../plan.ts';

export type HealthState = 'healthy' | 'degraded' | 'repairing' | 'failed';

export interface AlarmRow {
  id: string;
  resource_type: string;
  resource_key: string;
  cause: string;
  owner_id: string | null;
  message: string;
  status: 'open' | 'cleared';
  first_seen: Date;
  last_seen: Date;
  count: number;
  cleared_at: Date | null;
  acked_at: Date | null;
  acked_by: string | null;
}

export interface HealthPolicy {
  /** Consecutive failing checks before a resource is `failed` and alarms are raised. */
  failAfter: number;
  /** How the resource is repaired, when it can be: one repair job per unhealthy episode. */
  repair?: RepairPolicy;
  /**
   * Causes that are another resource's to alarm and repair (a site whose proxy is down, a
   * host that does not answer): alone, they keep this resource `degraded` and nothing more.
   */
  causedElsewhere?: readonly string[];
}

export interface RepairPolicy {
  /** Consecutive failing checks before the repair starts. */
  after: number;
  /** The repair for these problems, or null (none fits, or the resource is gone). */
  plan(db: Knex, check: CheckResult): Promise<JobPlan | null>;
}

/**
 * Folds one check into the resource's health with hysteresis: one failure makes it
 * `degraded`, `failAfter` in a row make it `failed` and raise one alarm per cause (later
 * failures only count); the first healthy check makes it `healthy` and clears its alarms.
 * A repairable resource goes `repairing` after `repair.after` failures, with its repair job
 * written in the same transaction (once per episode); checks that ran before that job
 * finished change nothing, and the first one after it decides: `healthy`, or `failed`.
 * Raised and cleared alarms are queued for delivery in the same transaction. A check that
 * started looking before the last one recorded changes nothing.
 */
export async function recordCheck(
  db: Knex,
  check: CheckResult,
  at: Date,
  policy: HealthPolicy,
  ownerId: string | null = null,
): Promise<HealthState> {
  return db.transaction(async (trx) => {
    const key = { resource_type: check.resource.type, resource_key: check.resource.key };
    const before: { state: HealthState; failures: number; repair_job_id: string | null; checked_at: Date } | undefined = await trx('health')
      .where(key)
      .forUpdate()
      .first();
    // Checks overlap when one is slow (a probe waiting out its timeout): one that started looking
    // before the last one recorded is older news, and would reorder the history.
    if (before && at < new Date(before.checked_at)) return before.state;
    const findings = { checked_at: at, problems: JSON.stringify(check.problems), measurements: JSON.stringify(check.measurements) };
    const repair = before?.state === 'repairing' && before.repair_job_id ? await repairOutcome(trx, before.repair_job_id) : null;
    if (!check.healthy && repair && (!repair.done || at <= repair.finishedAt!)) {
      // The repair is still running, or this check looked before it finished: it proves nothing yet.
      await trx('health').where(key).update(findings);
      return 'repairing';
    }
    if (!check.healthy && check.problems.every((p) => policy.causedElsewhere?.includes(p.cause))) {
      const state: HealthState = before && before.state !== 'healthy' ? before.state : 'degraded';
      await trx('health')
        .insert({ ...key, owner_id: ownerId, state, failures: 0, since: at, ...findings })
        .onConflict(['resource_type', 'resource_key'])
        .merge({ state, ...findings, ...(before?.state !== state ? { since: at } : {}) });
      if (before?.state !== state)
        await trx('health_history').insert({ ...key, state, at, note: check.problems.map((p) => p.message).join('; ') });
      return state;
    }
    const failures = check.healthy ? 0 : (before?.failures ?? 0) + 1;
    let state: HealthState = check.healthy
      ? 'healthy'
      : failures >= policy.failAfter || repair || before?.state === 'failed'
        ? 'failed'
        : 'degraded';
    let repairJobId = check.healthy ? null : (before?.repair_job_id ?? null);
    let note = check.problems.map((p) => p.message).join('; ') || null;
    if (!check.healthy && !repairJobId && policy.repair && failures >= policy.repair.after) {
      const job = await policy.repair.plan(trx, check);
      if (job) {
        repairJobId = await submitRepair(trx, job);
        state = 'repairing';
        note = `repair job ${repairJobId} (${job.op.name}): ${note}`;
      }
    }
    const changed = before?.state !== state;
    await trx('health')
      .insert({ ...key, owner_id: ownerId, state, failures, since: at, repair_job_id: repairJobId, ...findings })
      .onConflict(['resource_type', 'resource_key'])
      .merge({ ...(changed ? { state, since: at } : {}), failures, repair_job_id: repairJobId, ...findings });
    if (changed) await trx('health_history').insert({ ...key, state, at, note });

    const open: AlarmRow[] = await trx('alarms').where({ ...key, status: 'open' });
    const own = check.problems.filter((p) => !policy.causedElsewhere?.includes(p.cause));
    const failing = byCause(state === 'failed' || failures >= policy.failAfter ? own : []);
    // A repair is not tried again within the episode: the alarm says why it failed and how to run it again.
    const repairNote = failing.length && repairJobId ? await failedRepairNote(trx, repairJobId) : '';
    for (const alarm of open.filter((a) => !failing.some((p) => p.cause === a.cause))) {
      await trx('alarms').where({ id: alarm.id }).update({ status: 'cleared', cleared_at: at });
      await notify(trx, alarm.id, 'cleared', at);
    }
    for (const problem of failing) {
      const existing = open.find((a) => a.cause === problem.cause);
      if (existing) {
        await trx('alarms')
          .where({ id: existing.id })
          .update({ count: existing.count + 1, last_seen: at, message: problem.message + repairNote });
      } else {
        const id = newJobId();
        await trx('alarms').insert({
          id,
          ...key,
          cause: problem.cause,
          owner_id: ownerId,
          message: problem.message + repairNote,
          status: 'open',
          first_seen: at,
          last_seen: at,
          count: 1,
        });
        await notify(trx, id, 'raised', at);
      }
    }
    return state;
  });
}

/** One problem per cause (one alarm each): an app's replicas missing alike are one alarm, its message naming each. */
function byCause(problems: readonly Problem[]): Problem[] {
  const merged = new Map<string, Problem>();
  for (const p of problems) {
    const seen = merged.get(p.cause);
    merged.set(p.cause, seen ? { cause: p.cause, message: `${seen.message}; ${p.message}`.slice(0, 2000) } : p);
  }
  return [...merged.values()];
}

/**
 * Forgets the health of resources that are gone (a deleted site, a member removed from its
 * group, a removed host): their rows go, their open alarms are cleared (and that is delivered).
 * `current` holds the keys still checked, per type; types not named are left alone.
 */
export async function forgetGone(db: Knex, current: Map<string, Set<string>>, at: Date): Promise<number> {
  let forgotten = 0;
  for (const [type, keys] of current) {
    const rows: { resource_key: string }[] = await db('health').where({ resource_type: type }).select('resource_key');
    const gone = rows.map((r) => r.resource_key).filter((key) => !keys.has(key));
    for (const key of gone) {
      await db.transaction(async (trx) => {
        const where = { resource_type: type, resource_key: key };
        for (const alarm of (await trx('alarms').where({ ...where, status: 'open' })) as AlarmRow[]) {
          await trx('alarms').where({ id: alarm.id }).update({ status: 'cleared', cleared_at: at });
          await notify(trx, alarm.id, 'cleared', at);
        }
        await trx('health_history').where(where).delete();
        await trx('health').where(where).delete();
      });
      forgotten++;
    }
  }
  return forgotten;
}

/** Whether the episode's repair job has finished, and when. */
async function repairOutcome(trx: Knex.Transaction, jobId: string): Promise<{ done: boolean; finishedAt: Date | null }> {
  const job: { status: JobStatus; finished_at: Date | null } | undefined = await trx('jobs')
    .where({ id: jobId })
    .first('status', 'finished_at');
  if (!job) return { done: true, finishedAt: new Date(0) };
  return { done: isFinal(job.status), finishedAt: job.finished_at ? new Date(job.finished_at) : new Date(0) };
}

/** Longest first line of a repair's error quoted in an alarm; the whole text is in `up jobs show`. */
const REPAIR_ERROR_MAX = 300;

/**
 * `; repair job <id> failed: <first line of its error>; \`up jobs retry <id>\` once the cause is
 * gone` when the episode's repair failed, or ''. A retry (`up jobs retry`, same correlation and
 * operation) stands for the repair: the newest run counts, and one that is running or
 * succeeded leaves nothing to say.
 */
export async function failedRepairNote(db: Knex, repairJobId: string): Promise<string> {
  const repair: { op: string; correlation_id: string } | undefined = await db('jobs')
    .where({ id: repairJobId })
    .first('op', 'correlation_id');
  if (!repair) return '';
  const latest: { id: string; status: JobStatus; error: { message?: string } | string | null } | undefined = await db('jobs')
    .where({ correlation_id: repair.correlation_id, op: repair.op })
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .first('id', 'status', 'error');
  if (!latest || (latest.status !== 'failed' && latest.status !== 'dead')) return '';
  const error = typeof latest.error === 'string' ? JSON.parse(latest.error) : latest.error;
  const first = String(error?.message ?? 'no error recorded')
    .split(/\r?\n/, 1)[0]!
    .trim();
  const line = first.length > REPAIR_ERROR_MAX ? `${first.slice(0, REPAIR_ERROR_MAX - 1)}…` : first;
  return `; repair job ${latest.id} failed: ${line}; \`up jobs retry ${latest.id}\` once the cause is gone`;
}

/** The repair as a job in `accepted`: the outbox's reconciler publishes it, like any committed job. */
async function submitRepair(trx: Knex.Transaction, job: JobPlan): Promise<string> {
  const [row] = await writePlans(trx, [job], system('health'));
  return row.id;
}

/** Where alarm notifications go; a channel that is not configured marks its rows done. */
export const ALARM_CHANNELS = ['webhook', 'mail'] as const;
export type AlarmChannel = (typeof ALARM_CHANNELS)[number];

function notify(trx: Knex.Transaction, alarmId: string, event: 'raised' | 'cleared', at: Date) {
  return trx('alarm_notifications').insert(ALARM_CHANNELS.map((channel) => ({ alarm_id: alarmId, event, channel, next_at: at })));
}

export interface PendingNotification {
  id: string;
  channel: AlarmChannel;
  event: 'raised' | 'cleared';
  attempts: number;
  alarm: AlarmRow;
}

export async function dueNotifications(db: Knex, limit: number): Promise<PendingNotification[]> {
  const rows = await db('alarm_notifications as n')
    .join('alarms as a', 'a.id', 'n.alarm_id')
    .whereNull('n.delivered_at')
    .andWhere('n.next_at', '<=', db.fn.now())
    .orderBy('n.id')
    .limit(limit)
    .select('n.id as notification_id', 'n.channel', 'n.event', 'n.attempts', 'a.*');
  return rows.map(({ notification_id, channel, event, attempts, ...alarm }) => ({
    id: String(notification_id),
    channel,
    event,
    attempts,
    alarm: alarm as AlarmRow,
  }));
}

export async function markDelivered(db: Knex, id: string): Promise<void> {
  await db('alarm_notifications').where({ id }).update({ delivered_at: db.fn.now(), last_error: null });
}

export async function markFailed(db: Knex, id: string, attempts: number, error: string, retryInMs: number): Promise<void> {
  await db('alarm_notifications')
    .where({ id })
    .update({ attempts, last_error: error.slice(0, 500), next_at: db.raw(`now() + (? * interval '1 millisecond')`, [retryInMs]) });
}
