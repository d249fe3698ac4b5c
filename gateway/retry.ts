/**
 * Retrying a failed job. A stored payload is a snapshot of the past: the resource it names may
 * be gone, or another one (another user's) may carry its name now. So a retry is planned again
 * from the resource as it is, found by id (DNS), or at least checked to be the same resource of
 * the same owner (websites, certificates). Users retry only what they can start themselves;
 * what an admin or up itself started (hosts, proxies, tenants on hosts, repairs) is the admin's.
 */
import type { Knex } from 'knex';
import type { JobRow } from './jobs-store.ts';
import type { JobPlan } from './plan.ts';
import { conflict } from './plugins/errors.ts';
import { domains } from './domains.ts';

/** The retried job: its operation is the original's. */
export type RetryPlan = Omit<JobPlan, 'op' | 'ownerId'>;

export interface Replanner {
  /** Users may retry their own jobs of this operation: they start it through its route themselves. */
  users: boolean;
  /** The job again, from the resource as it is now; a 409 when it is gone or is another one. */
  plan(db: Knex, job: JobRow): Promise<RetryPlan>;
}

/** The stored job as it was: for operations whose resource checks out. */
const asStored = (job: JobRow): RetryPlan => ({
  payload: job.payload,
  target: job.target,
  generation: job.generation,
  resourceId: job.resource_id,
});

/** The row still exists and still belongs to the job's owner (jobs without an owner are the admin's). */
async function sameOwner(db: Knex, job: JobRow, table: string, id: string | undefined, what: string): Promise<void> {
  const row: { owner_id: string } | undefined = id ? await db(table).where({ id }).first('owner_id') : undefined;
  if (!row || (job.owner_id !== null && row.owner_id !== job.owner_id)) {
    throw conflict(`the ${what} of job ${job.id} no longer exists: there is nothing to retry`);
  }
}

const site = (job: JobRow) => (job.payload as { site?: { id?: string; key?: string } }).site;

/** website.apply and .deploy, and the repair that re-applies: the site must still be there, its owner's. */
const onSite = (users: boolean): Replanner => ({
  users,
  async plan(db, job) {
    await sameOwner(db, job, 'websites', site(job)?.id, 'website');
    return asStored(job);
  },
});

const onCertificate: Replanner = {
  users: true,
  async plan(db, job) {
    await sameOwner(db, job, 'certificates', (job.payload as { certificate?: { id?: string } }).certificate?.id, 'certificate');
    return asStored(job);
  },
};

export const replanners: Record<string, Replanner> = {
  ...Object.fromEntries(domains.flatMap((d) => Object.entries(d.retries ?? {}))),
  'website.apply': onSite(true),
  'website.deploy': onSite(true),
  'health.repair.website': onSite(false),
  'website.delete': {
    users: true,
    // The site is gone by design; its vhost may go as long as no website answers under its key again.
    async plan(db, job) {
      const key = site(job)?.key ?? '';
      const reused = await db('websites')
        .where('temp_domain', 'like', `${key.replace(/[\\%_]/g, '\\$&')}.%`)
        .first('id');
      if (reused) throw conflict(`a website answers at ${key} again: retrying job ${job.id} would remove its vhost`);
      return asStored(job);
    },
  },
  'cert.issue': onCertificate,
  'cert.renew': onCertificate,
};
