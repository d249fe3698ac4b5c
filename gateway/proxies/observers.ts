/** What proxy.apply (and its repair) tell about the members: the generation each converged to, or why not. */
import type { Knex } from 'knex';
import { proxyApply } from '../../queues/proxies/ops.ts';
import { healthRepairProxy } from '../../queues/proxies/health.ts';
import { observe, type ObservedJob, type Outcome } from '../observe.ts';
import { getProxy } from './store.ts';

async function memberObserved(db: Knex, job: ObservedJob<typeof proxyApply>, event: Outcome<typeof proxyApply>): Promise<void> {
  const { host, layout, generation } = job.payload;
  const group = await getProxy(db, layout.group);
  const member = await db('hosts').where({ name: host.name }).first('id');
  if (!group || !member) return;
  const update =
    event.status === 'succeeded'
      ? { applied_generation: generation, last_error: null, updated_at: event.at }
      : event.status === 'superseded'
        ? null
        : { last_error: event.error?.message ?? event.status, updated_at: event.at };
  if (update) await db('proxy_members').where({ group_id: group.id, host_id: member.id }).update(update);
}

export const proxyObservers = [
  observe(proxyApply, memberObserved),
  // A repair is the same apply: what it converged to is recorded the same way.
  observe(healthRepairProxy, memberObserved),
];
