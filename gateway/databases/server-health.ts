/**
 * Every database server is checked each round (admins only: servers are infrastructure): it
 * answers on its socket and with TLS on its address, serving the certificate up installed; its
 * sessions stay under max_connections and its data directory has room. A server down, not
 * serving TLS or serving another certificate is repaired by setting it up again
 * (health.repair.db-server); the health daemon raises one alarm when that cannot help.
 */
import type { Knex } from 'knex';
import { DB_SERVER_LIMITS, healthCheckDbServer, healthRepairDbServer } from '../../queues/databases/health.ts';
import type { dbServerSetup } from '../../queues/databases/ops.ts';
import type { CheckResult } from '../../queues/health/checks.ts';
import type { PayloadOf } from '../../queues/operation.ts';
import type { CheckKind } from '../domain.ts';
import { FAIL_AFTER, hasCause, ON_HOST, REPAIR_AFTER } from '../health/policy.ts';
import type { HostRow } from '../hosts/store.ts';
import { plan, type JobPlan } from '../plan.ts';
import { setupJob, tlsFilesOf } from './plans.ts';
import type { DbServerRow } from './store.ts';
import { serverRefOf } from './store.ts';

export const DB_SERVER_RESOURCE = 'db-server';
/** What setting the server up again can mend; sessions and disk are the admin's to look at. */
const REPAIRABLE = ['server-down', 'tls-down', 'certificate-mismatch', 'certificate-missing'];

/** The servers on hosts that are not in maintenance, with their host. */
async function checkedServers(db: Knex): Promise<{ server: DbServerRow; host: HostRow }[]> {
  const servers: DbServerRow[] = await db('db_servers').orderBy('name');
  const hosts = new Map<string, HostRow>(
    (
      await db('hosts')
        .whereIn('name', [...new Set(servers.map((s) => s.host))])
        .where('maintenance', false)
    ).map((h: HostRow) => [h.name, h]),
  );
  return servers.flatMap((server) => {
    const host = hosts.get(server.host);
    return host ? [{ server, host }] : [];
  });
}

async function repairDbServer(db: Knex, check: CheckResult): Promise<JobPlan | null> {
  if (hasCause(check, 'unreachable') || !hasCause(check, ...REPAIRABLE)) return null;
  const server: DbServerRow | undefined = await db('db_servers').where({ name: check.resource.key }).first();
  const host: HostRow | undefined = server && (await db('hosts').where({ name: server.host }).first());
  if (!server || !host) return null;
  const setup = await setupJob(db, server, host);
  return plan({
    op: healthRepairDbServer,
    payload: setup.payload as PayloadOf<typeof dbServerSetup>,
    target: setup.target,
    ownerId: null,
  });
}

export const dbServerChecks: CheckKind = {
  type: DB_SERVER_RESOURCE,
  op: healthCheckDbServer,
  async plan(db) {
    const planned: JobPlan[] = [];
    for (const { server, host } of await checkedServers(db)) {
      const payload = {
        resource: { type: DB_SERVER_RESOURCE, key: server.name },
        server: await serverRefOf(db, server),
        listen: server.address,
        tls: tlsFilesOf(host, server),
        limits: DB_SERVER_LIMITS,
      };
      planned.push(plan({ op: healthCheckDbServer, payload, target: `${DB_SERVER_RESOURCE}@${server.name}` }));
    }
    return planned;
  },
  policy: { failAfter: FAIL_AFTER, causedElsewhere: ON_HOST, repair: { after: REPAIR_AFTER, plan: repairDbServer } },
};
