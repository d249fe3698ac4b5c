import type { Knex } from 'knex';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';
import type { AlarmMailSettings } from '../lib/config.ts';
import { dueNotifications, markDelivered, markFailed, type PendingNotification } from '../gateway/health/store.ts';
import { alarmView } from '../gateway/views.ts';

/** The JSON an alarm webhook receives. */
export const alarmPayload = (n: PendingNotification) => ({ event: n.event, alarm: alarmView(n.alarm) });

/** The mail an operator receives: the subject says what and where, the body has the rest. */
export function alarmMail(n: PendingNotification) {
  const alarm = alarmView(n.alarm);
  const resource = `${alarm.resource.type} ${alarm.resource.key}`;
  return {
    subject: `[up] ${n.event === 'raised' ? 'ALARM' : 'cleared'}: ${alarm.cause} on ${resource}`,
    text: [
      n.event === 'raised' ? `An alarm was raised for ${resource}.` : `The alarm for ${resource} has cleared.`,
      '',
      alarm.message,
      '',
      `cause:      ${alarm.cause}`,
      `first seen: ${alarm.firstSeen}`,
      `last seen:  ${alarm.lastSeen} (${alarm.count} time${alarm.count === 1 ? '' : 's'})`,
      ...(alarm.clearedAt ? [`cleared:    ${alarm.clearedAt}`] : []),
      '',
      `up alarms list; up alarms ack ${alarm.id}`,
      '',
    ].join('\n'),
  };
}

export interface AlarmChannels {
  webhookUrl: string | null;
  mail: AlarmMailSettings | null;
}

/** One mail transport per scheduler (nodemailer keeps the SMTP connection settings). */
const transports = new WeakMap<AlarmMailSettings, Transporter>();
function transportFor(mail: AlarmMailSettings): Transporter {
  let transport = transports.get(mail);
  if (!transport) {
    transport = nodemailer.createTransport({ url: mail.smtpUrl, connectionTimeout: 5_000, greetingTimeout: 5_000, socketTimeout: 10_000 });
    transports.set(mail, transport);
  }
  return transport;
}

/**
 * Delivers queued alarm notifications, each channel on its own: the webhook (JSON POST) and
 * mail (SMTP), retried with backoff (1 s, 2 s, 4 s … up to 5 min) until they are taken. A
 * channel that is not configured marks its notifications done.
 */
export async function deliverAlarms(options: { db: Knex; channels: AlarmChannels; log: Logger }): Promise<number> {
  const { db, channels, log } = options;
  const due = await dueNotifications(db, 50);
  for (const n of due) {
    try {
      if (n.channel === 'webhook' && channels.webhookUrl) await postWebhook(channels.webhookUrl, n);
      if (n.channel === 'mail' && channels.mail) await sendMail(channels.mail, n);
      await markDelivered(db, n.id);
    } catch (error) {
      const attempts = n.attempts + 1;
      const retryInMs = Math.min(1_000 * 2 ** (attempts - 1), 300_000);
      // The error of a failed send, never the SMTP URL (it may hold a password).
      const message = (error as Error).message;
      log.warn({ alarm: n.alarm.id, channel: n.channel, attempts, retryInMs, err: message }, 'alarm delivery failed; will retry');
      await markFailed(db, n.id, attempts, message, retryInMs);
    }
  }
  return due.length;
}

async function postWebhook(url: string, n: PendingNotification): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': `alarm-notification-${n.id}` },
    body: JSON.stringify(alarmPayload(n)),
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok) throw new Error(`webhook answered ${response.status}`);
}

async function sendMail(mail: AlarmMailSettings, n: PendingNotification): Promise<void> {
  const { subject, text } = alarmMail(n);
  await transportFor(mail).sendMail({
    from: mail.from,
    to: mail.to,
    subject,
    text,
    // The same notification sent twice (a retry after a lost answer) is recognisably one.
    messageId: `<alarm-notification-${n.id}@up>`,
  });
}
