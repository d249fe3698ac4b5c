/**
 * What mail.apply tells: the generation each mail host converged to, or why it did not; and the
 * DKIM public keys it made, stored on their domains and published as their TXT records when the
 * domain's zone is its owner's here (the private keys stay on the host).
 */
import type { Knex } from 'knex';
import { healthRepairMailHost } from '../../queues/mail/health.ts';
import { mailApply } from '../../queues/mail/ops.ts';
import { inOwnZone, mailDomainRecordJobs } from '../dns/managed.ts';
import type { HostRow } from '../hosts/store.ts';
import { observe, type ObservedJob, type ObserverContext, type Outcome } from '../observe.ts';
import { writePlans, type JobPlan } from '../plan.ts';
import { HttpError } from '../plugins/errors.ts';
import { mailLayoutOf } from './plans.ts';
import type { MailDomainRow } from './store.ts';
import { mailDnsRecords } from './views.ts';

async function hostObserved(
  db: Knex,
  job: ObservedJob<typeof mailApply>,
  event: Outcome<typeof mailApply>,
  context: ObserverContext,
): Promise<void> {
  const host: HostRow | undefined = await db('hosts').where({ name: job.payload.host.name }).first();
  if (!host) return;
  const rows = db('mail_hosts').where({ host_id: host.id });
  if (event.status === 'succeeded') {
    await rows
      .clone()
      .where((q) => q.whereNull('applied_generation').orWhere('applied_generation', '<', job.payload.generation))
      .update({ applied_generation: job.payload.generation, last_error: null, updated_at: event.at });
    await dkimObserved(db, job, host, event.result?.dkim ?? [], context);
  } else if (event.status !== 'superseded') {
    await rows.clone().update({ last_error: event.error?.message ?? event.status, updated_at: event.at });
  }
}

/**
 * Each reported key stored on its domain (a domain this host serves: a report never touches
 * another host's domain), and the domain's managed records brought up to date with it.
 */
async function dkimObserved(
  db: Knex,
  job: ObservedJob<typeof mailApply>,
  host: HostRow,
  keys: NonNullable<NonNullable<Outcome<typeof mailApply>['result']>['dkim']>,
  context: ObserverContext,
): Promise<void> {
  for (const { domainId, publicKey } of keys) {
    const jobs = await db.transaction(async (trx) => {
      const domain: MailDomainRow | undefined = await trx('mail_domains').where({ id: domainId, host_id: host.id }).forUpdate().first();
      if (!domain || domain.dkim_public_key === publicKey) return [];
      await trx('mail_domains').where({ id: domain.id }).update({ dkim_public_key: publicKey });
      if (!(await inOwnZone(trx, domain.name, domain.owner_id))) return [];
      const records = mailDnsRecords(domain.name, mailLayoutOf(host).hostname, publicKey);
      let plans: JobPlan[];
      try {
        plans = await mailDomainRecordJobs(trx, domain, records);
      } catch (error) {
        // The zone refuses the records for now (still being created, a CNAME at the name): the key is
        // stored and shown with the records to publish; the next apply that reports it tries again.
        if (error instanceof HttpError) return [];
        throw error;
      }
      return writePlans(
        trx,
        plans,
        { actor: 'system:mail', tenant: job.tenant, ownerId: domain.owner_id },
        { correlationId: job.correlation_id },
      );
    });
    context.publish(jobs);
  }
}

export const mailObservers = [
  observe(mailApply, hostObserved),
  // A repair is the same apply: what it converged to is recorded the same way.
  observe(healthRepairMailHost, hostObserved),
];
