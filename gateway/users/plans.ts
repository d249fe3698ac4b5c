/**
 * The tenant's Unix user on the hosts where their resources land. Resource routes plan a
 * tenant.provision (idempotent) with the resource's own jobs for each host that has not
 * reported the user yet; those jobs wait for it (they fail retryably while the user is missing).
 */
import type { Knex } from 'knex';
import { hostRefOf, type HostRow } from '../hosts/store.ts';
import { tenantProvision } from '../../queues/users/ops.ts';
import { plan, type JobPlan } from '../plan.ts';
import { SUBID_COUNT, type UserRow } from './store.ts';

/** Jobs that may still create the user: a second one would only find it there. */
const PENDING = ['accepted', 'queued', 'running', 'retrying'];

/** The tenant.provision of one user on one host, as POST /v1/users/{name}/hosts plans it. */
export async function tenantProvisionOn(db: Knex, user: Pick<UserRow, 'id' | 'name' | 'subid_start'>, host: HostRow): Promise<JobPlan> {
  return plan({
    op: tenantProvision,
    payload: {
      host: await hostRefOf(db, host),
      tenant: user.name,
      ...(user.subid_start === null ? {} : { uidRange: { start: Number(user.subid_start), count: SUBID_COUNT } }),
    },
    target: host.name,
    ownerId: user.id,
  });
}

/**
 * A tenant.provision for every (owner, host) pair whose Unix user the host has not reported
 * (tenant_hosts) and no pending job is creating. Admins own no Unix user: their sites stay root's.
 */
export async function tenantJobs(db: Knex, ownerIds: readonly string[], hosts: readonly HostRow[]): Promise<JobPlan[]> {
  if (hosts.length === 0) return [];
  const users: UserRow[] = await db('users')
    .whereIn('id', [...new Set(ownerIds)])
    .where({ role: 'user' })
    .whereIn('status', ['active', 'suspended'])
    .orderBy('name');
  const planned: JobPlan[] = [];
  for (const user of users) {
    const there = new Set<string>(
      (await db('tenant_hosts').where({ user_id: user.id }).select('host')).map((r: { host: string }) => r.host),
    );
    const coming = new Set<string>(
      (
        await db('jobs')
          .where({ op: tenantProvision.name })
          .whereIn('status', PENDING)
          .whereRaw("payload->>'tenant' = ?", [user.name])
          .select(db.raw("payload->'host'->>'name' as host"))
      ).map((r: { host: string }) => r.host),
    );
    for (const host of hosts) if (!there.has(host.name) && !coming.has(host.name)) planned.push(await tenantProvisionOn(db, user, host));
  }
  return planned;
}
