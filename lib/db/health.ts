import type { Knex } from 'knex';
import { newJobId } from '../ids.ts';
import type { CheckResult } from '../../queues/ops/health.ts';

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
}

/**
 * Folds one check into the resource's health with hysteresis: one failure makes it
 * `degraded`, `failAfter` in a row make it `failed` and raise one alarm per cause (later
 * failures only count); the first healthy check makes it `healthy` and clears its alarms.
 * Raised and cleared alarms are queued for delivery in the same transaction.
 */
export async function recordCheck(db: Knex, check: CheckResult, at: Date, policy: HealthPolicy, ownerId: string | null = null): Promise<HealthState> {
  return db.transaction(async (trx) => {
    const key = { resource_type: check.resource.type, resource_key: check.resource.key };
    const before: { state: HealthState; failures: number } | undefined = await trx('health').where(key).forUpdate().first();
    const failures = check.healthy ? 0 : (before?.failures ?? 0) + 1;
    const state: HealthState = check.healthy ? 'healthy' : failures >= policy.failAfter ? 'failed' : 'degraded';
    const changed = before?.state !== state;
    await trx('health')
      .insert({ ...key, owner_id: ownerId, state, failures, since: at, checked_at: at, problems: JSON.stringify(check.problems), measurements: JSON.stringify(check.measurements) })
      .onConflict(['resource_type', 'resource_key'])
      .merge(changed ? ['state', 'failures', 'since', 'checked_at', 'problems', 'measurements'] : ['failures', 'checked_at', 'problems', 'measurements']);
    if (changed) {
      const note = check.problems.map((p) => p.message).join('; ') || null;
      await trx('health_history').insert({ ...key, state, at, note });
    }

    const open: AlarmRow[] = await trx('alarms').where({ ...key, status: 'open' });
    const failing = state === 'failed' ? check.problems : [];
    for (const alarm of open.filter((a) => !failing.some((p) => p.cause === a.cause))) {
      await trx('alarms').where({ id: alarm.id }).update({ status: 'cleared', cleared_at: at });
      await notify(trx, alarm.id, 'cleared', at);
    }
    for (const problem of failing) {
      const existing = open.find((a) => a.cause === problem.cause);
      if (existing) {
        await trx('alarms').where({ id: existing.id }).update({ count: existing.count + 1, last_seen: at, message: problem.message });
      } else {
        const id = newJobId();
        await trx('alarms').insert({ id, ...key, cause: problem.cause, owner_id: ownerId, message: problem.message, status: 'open', first_seen: at, last_seen: at, count: 1 });
        await notify(trx, id, 'raised', at);
      }
    }
    return state;
  });
}

function notify(trx: Knex.Transaction, alarmId: string, event: 'raised' | 'cleared', at: Date) {
  return trx('alarm_notifications').insert({ alarm_id: alarmId, event, next_at: at });
}

export interface PendingNotification {
  id: string;
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
    .select('n.id as notification_id', 'n.event', 'n.attempts', 'a.*');
  return rows.map(({ notification_id, event, attempts, ...alarm }) => ({ id: String(notification_id), event, attempts, alarm: alarm as AlarmRow }));
}

export async function markDelivered(db: Knex, id: string): Promise<void> {
  await db('alarm_notifications').where({ id }).update({ delivered_at: db.fn.now(), last_error: null });
}

export async function markFailed(db: Knex, id: string, attempts: number, error: string, retryInMs: number): Promise<void> {
  await db('alarm_notifications')
    .where({ id })
    .update({ attempts, last_error: error.slice(0, 500), next_at: db.raw(`now() + (? * interval '1 millisecond')`, [retryInMs]) });
}
