/** What mail.apply tells: the generation each mail host converged to, or why it did not. */
import type { Knex } from 'knex';
import { healthRepairMailHost } from '../../queues/mail/health.ts';
import { mailApply } from '../../queues/mail/ops.ts';
import { observe, type ObservedJob, type Outcome } from '../observe.ts';

async function hostObserved(db: Knex, job: ObservedJob<typeof mailApply>, event: Outcome<typeof mailApply>): Promise<void> {
  const host = await db('hosts').where({ name: job.payload.host.name }).first('id');
  if (!host) return;
  const rows = db('mail_hosts').where({ host_id: host.id });
  if (event.status === 'succeeded') {
    await rows
      .clone()
      .where((q) => q.whereNull('applied_generation').orWhere('applied_generation', '<', job.payload.generation))
      .update({ applied_generation: job.payload.generation, last_error: null, updated_at: event.at });
  } else if (event.status !== 'superseded') {
    await rows.clone().update({ last_error: event.error?.message ?? event.status, updated_at: event.at });
  }
}

export const mailObservers = [
  observe(mailApply, hostObserved),
  // A repair is the same apply: what it converged to is recorded the same way.
  observe(healthRepairMailHost, hostObserved),
];
