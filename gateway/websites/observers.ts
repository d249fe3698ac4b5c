/** What website jobs tell about the hosts: the generation each serves, or why not. */
import type { Knex } from 'knex';
import { websiteApply, websiteDelete } from '../../queues/websites/ops.ts';
import { healthRepairWebsite } from '../../queues/websites/health.ts';
import { observe, type ObservedJob, type Outcome } from '../observe.ts';

type SiteJob = typeof websiteApply | typeof websiteDelete;

async function hostObserved<O extends SiteJob>(db: Knex, job: ObservedJob<O>, event: Outcome<O>): Promise<void> {
  const { host, site } = job.payload;
  if (!(await db('websites').where({ id: site.id }).first('id'))) return; // deleted since
  const row =
    event.status === 'succeeded'
      ? { applied_generation: site.generation, last_error: null }
      : event.status === 'superseded'
        ? null
        : { last_error: event.error?.message ?? event.status };
  if (!row) return;
  await db('website_hosts')
    .insert({ website_id: site.id, host: host.name, ...row, updated_at: event.at })
    .onConflict(['website_id', 'host'])
    .merge({ ...row, updated_at: event.at });
}

export const websiteObservers = [
  observe(websiteApply, hostObserved),
  observe(websiteDelete, hostObserved),
  // A repair is the same apply: what it converged to is recorded the same way.
  observe(healthRepairWebsite, hostObserved),
];
