/**
 * Renewals: certificates within 30 days of expiry get a cert.renew; failed ones a cert.issue
 * again, with backoff (the interval, doubled per consecutive failure, at most a day); ones
 * that never got a job (a wildcard planned before its group had members) get a cert.issue.
 * A job that vanished (its row still `renewing` a day later) is replaced.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { CertificateRow } from '../lib/db/certs.ts';
import type { Outbox } from '../gateway/outbox.ts';
import { certJob } from '../gateway/routes/web-certs.ts';

export const RENEW_BEFORE_DAYS = 30;
const DAY_MS = 86_400_000;

export function retryDelayMs(failures: number, intervalMs: number): number {
  return Math.min(DAY_MS, intervalMs * 2 ** Math.max(0, failures - 1));
}

export async function dueCertificates(db: Knex, now: Date, intervalMs: number): Promise<{ cert: CertificateRow; renew: boolean }[]> {
  const rows: CertificateRow[] = await db('certificates').whereIn('status', ['valid', 'failed', 'pending', 'renewing']).orderBy('not_after');
  const soon = now.getTime() + RENEW_BEFORE_DAYS * DAY_MS;
  const since = (d: Date | null) => (d ? now.getTime() - new Date(d).getTime() : Infinity);
  return rows.flatMap((cert) => {
    const expiring = cert.not_after !== null && new Date(cert.not_after).getTime() < soon;
    if (cert.status === 'valid' && expiring) return [{ cert, renew: true }];
    // A retry is an issue: certbot renews what is due or covers changed names, and keeps (and reinstalls) what is current.
    if (cert.status === 'failed' && since(cert.last_attempt_at) >= retryDelayMs(cert.failures, intervalMs)) return [{ cert, renew: false }];
    if (cert.status === 'pending' && cert.last_job_id === null) return [{ cert, renew: false }];
    if ((cert.status === 'renewing' || cert.status === 'pending') && since(cert.last_attempt_at) > DAY_MS) return [{ cert, renew: cert.status === 'renewing' }];
    return [];
  });
}

/** One round: a job per due certificate, each written with its row's mark in one transaction. */
export async function publishRenewals(options: { db: Knex; outbox: Outbox; log: Logger; intervalMs: number }): Promise<number> {
  const { db, outbox, log } = options;
  let published = 0;
  for (const { cert, renew } of await dueCertificates(db, new Date(), options.intervalMs)) {
    const jobs = await db.transaction(async (trx) => {
      const rows = [];
      for (const planned of await certJob(trx, cert, renew)) {
        const { job } = await outbox.insert(trx, {
          op: planned.op, payload: planned.payload, actor: 'system:scheduler', tenant: null, target: planned.target, ownerId: cert.owner_id,
        });
        await planned.alsoInTransaction?.(trx, job.id);
        rows.push(job);
      }
      return rows;
    });
    outbox.publish(jobs);
    published += jobs.length;
    if (jobs.length) log.info({ certificate: cert.name, names: cert.names, renew, failures: cert.failures }, 'certificate job published');
  }
  return published;
}
