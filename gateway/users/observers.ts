/** What tenant jobs tell about the hosts: where each tenant's Unix user exists, and its uid. */
import { tenantDeprovision, tenantProvision } from '../../queues/users/ops.ts';
import { observe } from '../observe.ts';
import { getUserByName } from './store.ts';

export const userObservers = [
  observe(tenantProvision, async (db, job, event) => {
    if (event.status !== 'succeeded') return;
    const user = await getUserByName(db, job.payload.tenant);
    if (!user) return;
    const uid = event.result?.uid ?? null;
    await db('tenant_hosts').insert({ user_id: user.id, host: job.payload.host.name, uid }).onConflict(['user_id', 'host']).merge({ uid });
  }),
  observe(tenantDeprovision, async (db, job, event) => {
    if (event.status !== 'succeeded') return;
    const user = await getUserByName(db, job.payload.tenant);
    if (user) await db('tenant_hosts').where({ user_id: user.id, host: job.payload.host.name }).delete();
  }),
];
