import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { dueNotifications, markDelivered, markFailed, type PendingNotification } from '../lib/db/health.ts';
import { alarmView } from '../gateway/views.ts';

/** The JSON an alarm webhook receives. */
export const alarmPayload = (n: PendingNotification) => ({ event: n.event, alarm: alarmView(n.alarm) });

/**
 * Delivers queued alarm notifications to the webhook: JSON POST, retried with backoff
 * (1 s, 2 s, 4 s … up to 5 min) until it answers 2xx. Without a webhook they are marked done.
 */
export async function deliverAlarms(options: { db: Knex; webhookUrl: string | null; log: Logger }): Promise<number> {
  const { db, webhookUrl, log } = options;
  const due = await dueNotifications(db, 50);
  for (const n of due) {
    if (!webhookUrl) {
      await markDelivered(db, n.id);
      continue;
    }
    try {
      const response = await fetch(webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': `alarm-notification-${n.id}` },
        body: JSON.stringify(alarmPayload(n)),
        signal: AbortSignal.timeout(5_000),
      });
      if (!response.ok) throw new Error(`webhook answered ${response.status}`);
      await markDelivered(db, n.id);
    } catch (error) {
      const attempts = n.attempts + 1;
      const retryInMs = Math.min(1_000 * 2 ** (attempts - 1), 300_000);
      log.warn({ alarm: n.alarm.id, attempts, retryInMs, err: (error as Error).message }, 'alarm webhook delivery failed; will retry');
      await markFailed(db, n.id, attempts, (error as Error).message, retryInMs);
    }
  }
  return due.length;
}
