/**
 * Fan-out submission: a change to a group or a site becomes one job per member host (each
 * host converges and retries on its own), written with the desired-state change in ONE
 * transaction and published afterwards through the outbox (the reconciler covers a crash).
 */
import type { Knex } from 'knex';
import type { Static } from 'typebox';
import type { JobRow } from '../../lib/db/jobs.ts';
import { hostRefOf } from '../../lib/db/hosts.ts';
import { layoutOf, websiteSnapshot, type MemberRow, type ProxyGroupRow, type WebsiteRow } from '../../lib/db/web.ts';
import type { Operation } from '../../queues/operation.ts';
import { websiteApply, websiteDelete } from '../../queues/ops/website.ts';
import type { Caller } from '../plugins/auth.ts';
import type { Outbox } from '../outbox.ts';

export interface PlannedJob {
  op: Operation;
  payload: unknown;
  target: string;
  generation: number;
  /** Writes that need the job's id (e.g. a zone's last job), in the same transaction. */
  alsoInTransaction?: (trx: Knex.Transaction, jobId: string) => Promise<void>;
}

export async function submitAll(
  db: Knex,
  outbox: Outbox,
  caller: Caller,
  plan: (trx: Knex.Transaction) => Promise<PlannedJob[]>,
): Promise<JobRow[]> {
  const jobs = await db.transaction(async (trx) => {
    const planned = await plan(trx);
    const rows: JobRow[] = [];
    for (const job of planned) {
      const { job: row } = await outbox.insert(trx, {
        op: job.op,
        payload: job.payload,
        actor: caller.actor,
        tenant: caller.tenant,
        target: job.target,
        generation: job.generation,
        ownerId: caller.role === 'admin' ? null : caller.userId,
      });
      rows.push(row);
      await job.alsoInTransaction?.(trx, row.id);
    }
    return rows;
  });
  outbox.publish(jobs);
  return jobs;
}

/** Owner's name (for the temporary subdomain) and tenant (for the Unix user) of a site. */
export async function ownerOfSite(db: Knex, ownerId: string): Promise<{ name: string; tenant: string | null }> {
  const user: { name: string; role: string } | undefined = await db('users').where({ id: ownerId }).first('name', 'role');
  if (!user) throw new Error(`website owner ${ownerId} does not exist`);
  return { name: user.name, tenant: user.role === 'admin' ? null : user.name };
}

export async function applyJobs(db: Knex, group: ProxyGroupRow, hosts: MemberRow[], site: WebsiteRow, siteName: string): Promise<PlannedJob[]> {
  const owner = await ownerOfSite(db, site.owner_id);
  const spec: Static<typeof websiteApply.payload>['site'] = websiteSnapshot(site, keyOf(site), owner.tenant);
  return Promise.all(
    hosts.map(async (host) => ({
      op: websiteApply,
      payload: { host: await hostRefOf(db, host), layout: layoutOf(group, host), site: spec },
      target: `website/${siteName}@${host.name}`,
      generation: site.generation,
    })),
  );
}

export async function deleteJobs(db: Knex, group: ProxyGroupRow, hosts: MemberRow[], site: WebsiteRow): Promise<PlannedJob[]> {
  return Promise.all(
    hosts.map(async (host) => ({
      op: websiteDelete,
      payload: { host: await hostRefOf(db, host), layout: layoutOf(group, host), site: { id: site.id, key: keyOf(site), generation: site.generation } },
      target: `website/${site.name}@${host.name}`,
      generation: site.generation,
    })),
  );
}

/** The key is the temporary subdomain's first label. */
export const keyOf = (site: Pick<WebsiteRow, 'temp_domain'>) => site.temp_domain.split('.')[0];
