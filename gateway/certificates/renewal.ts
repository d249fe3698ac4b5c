/**
 * Renewals: certificates within 30 days of expiry get a cert.renew; failed ones a cert.issue
 * again, with backoff (the interval, doubled per consecutive failure, at most a day); ones
 * that never got a job (a wildcard planned before its group had members) get a cert.issue.
 * A job that vanished (its row still `renewing` a day later) is replaced.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { CertificateRow } from './store.ts';
import type { Outbox } from '../outbox.ts';
import { certJob, missingWildcards, wildcardCertificateJobs } from './plans.ts';
import { system } from '../plan.ts';

export const RENEW_BEFORE_DAYS = 30;
const DAY_MS = 86_400_000;

export function retryDelayMs(failures: number, intervalMs: number): number {
  return Math.min(DAY_MS, intervalMs * 2 ** Math.max(0, failures - 1));
}

export async function dueCertificates(db: Knex, now: Date, intervalMs: number): Promise<{ cert: CertificateRow; renew: boolean }[]> {
  const rows: CertificateRow[] = await db('certificates')
    .whereIn('status', ['valid', 'failed', 'pending', 'renewing'])
    .orderBy('not_after');
  const soon = now.getTime() + RENEW_BEFORE_DAYS * DAY_MS;
  const since = (d: Date | null) => (d ? now.getTime() - new Date(d).getTime() : Infinity);
  return rows.flatMap((cert) => {
    const expiring = cert.not_after !== null && new Date(cert.not_after).getTime() < soon;
    if (cert.status === 'valid' && expiring) return [{ cert, renew: true }];
    // A retry is an issue: certbot renews what is due or covers changed names, and keeps (and reinstalls) what is current.
    if (cert.status === 'failed' && since(cert.last_attempt_at) >= retryDelayMs(cert.failures, intervalMs)) return [{ cert, renew: false }];
    if (cert.status === 'pending' && cert.last_job_id === null) return [{ cert, renew: false }];
    if ((cert.status === 'renewing' || cert.status === 'pending') && since(cert.last_attempt_at) > DAY_MS)
      return [{ cert, renew: cert.status === 'renewing' }];
    return [];
  });
}

/**
 * A cert.issue for every group whose wildcard a hosted, active zone covers but which never had
 * one (the zone came after the group). Each job is written with its certificate row; the row's
 * last job, checked again in the transaction, makes a second run (or the API's) a no-op.
 */
export async function publishWildcards(options: { db: Knex; outbox: Outbox; log: Logger }): Promise<number> {
  const { db, outbox, log } = options;
  let published = 0;
  for (const group of await missingWildcards(db)) {
    const jobs = await outbox.submitPlans(system('scheduler'), async (trx) => {
      const asked = await trx('proxy_groups').where({ id: group.id }).forUpdate().first('id');
      const existing = await trx('certificates')
        .where({ proxy_group_id: group.id, kind: 'wildcard' })
        .whereNotNull('last_job_id')
        .first('id');
      return asked && !existing ? wildcardCertificateJobs(trx, group) : [];
    });
    published += jobs.length;
    if (jobs.length) log.info({ proxy: group.name, wildcard: group.wildcard_domain }, 'wildcard certificate job published');
  }
  return published;
}

/** One round: a job per due certificate, each written with its row's mark in one transaction; missing wildcards too. */
export async function publishRenewals(options: { db: Knex; outbox: Outbox; log: Logger; intervalMs: number }): Promise<number> {
  const { db, outbox, log } = options;
  let published = await publishWildcards(options);
  for (const { cert, renew } of await dueCertificates(db, new Date(), options.intervalMs)) {
    const jobs = await outbox.submitPlans({ ...system('scheduler'), ownerId: cert.owner_id }, (trx) => certJob(trx, cert, renew));
    published += jobs.length;
    if (jobs.length) log.info({ certificate: cert.name, names: cert.names, renew, failures: cert.failures }, 'certificate job published');
  }
  return published;
}
