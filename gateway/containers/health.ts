/**
 * Every container is checked on its host each round: there at its generation, in the state it
 * should be, its own healthcheck passing, its restart count not climbing since the last round.
 * A failing one is restarted, then recreated from its stored spec (health.repair.container);
 * an unreachable host is the host check's to alarm.
 */
import type { Knex } from 'knex';
import type { CheckResult } from '../../queues/health/checks.ts';
import { healthCheckContainer, healthRepairContainer } from '../../queues/containers/health.ts';
import type { CheckKind } from '../domain.ts';
import { FAIL_AFTER, hasCause, ON_HOST, REPAIR_AFTER } from '../health/policy.ts';
import { getHostByName } from '../hosts/store.ts';
import { plan, type JobPlan } from '../plan.ts';
import { containerApplyOf } from './plans.ts';
import { containerKey, type ContainerRow } from './store.ts';

const REPAIRABLE = ['container-missing', 'container-stale', 'container-down', 'container-unhealthy', 'container-restarting'];

/** `<name>-<tenant>@<host>`: the podman name and where it runs. */
const checkKey = (key: string, host: string) => `${key}@${host}`;

async function containerOfKey(db: Knex, key: string): Promise<ContainerRow | null> {
  const [podmanName, host] = key.split('@');
  const cut = podmanName?.lastIndexOf('-') ?? -1;
  if (!host || cut < 1) return null;
  const row = await db('containers as c')
    .join('users as u', 'u.id', 'c.owner_id')
    .where({ 'c.name': podmanName.slice(0, cut), 'u.name': podmanName.slice(cut + 1), 'c.host': host })
    .first('c.*');
  return row ?? null;
}

async function repairContainer(db: Knex, check: CheckResult): Promise<JobPlan | null> {
  if (hasCause(check, 'unreachable') || !hasCause(check, ...REPAIRABLE)) return null;
  const row = await containerOfKey(db, check.resource.key);
  if (!row) return null;
  return plan({ op: healthRepairContainer, ...(await containerApplyOf(db, row)) });
}

export const containerChecks: CheckKind = {
  type: 'container',
  op: healthCheckContainer,
  async plan(db, round) {
    const rows: (ContainerRow & { owner_name: string; restarts: string | null })[] = await db('containers as c')
      .join('users as u', 'u.id', 'c.owner_id')
      // An app's replicas are checked with their app (gateway/apps/health.ts): one alarm for one app.
      .whereNull('c.app_id')
      .leftJoin('health as h', (j) =>
        j.on('h.resource_type', db.raw('?', ['container'])).andOn('h.resource_key', db.raw("c.name || '-' || u.name || '@' || c.host")),
      )
      .select('c.*', 'u.name as owner_name', db.raw("h.measurements->>'restarts' as restarts"))
      .orderBy(['c.host', 'c.name']);
    const planned: JobPlan[] = [];
    const hosts = new Map<string, Awaited<ReturnType<typeof getHostByName>>>();
    for (const row of rows) {
      // A change in flight is its job's to report: judging it half-applied would start a repair that races it.
      if (row.applied_generation === null || row.applied_generation < row.generation) continue;
      if (!hosts.has(row.host)) hosts.set(row.host, await getHostByName(db, row.host));
      const host = hosts.get(row.host);
      if (!host || host.maintenance) continue;
      const key = containerKey(row.name, row.owner_name);
      const resource = { type: 'container', key: checkKey(key, row.host) };
      const container = {
        id: row.id,
        key,
        generation: row.generation,
        running: row.running,
        healthcheck: row.spec.healthcheck !== null,
        // The restarts the last round saw: more now means podman is restarting it (crash or out of memory).
        restarts: Number(row.restarts ?? 0),
      };
      planned.push(
        plan({ op: healthCheckContainer, payload: { resource, host: await round.refOf(host), container }, target: resource.key }),
      );
    }
    return planned;
  },
  policy: { failAfter: FAIL_AFTER, causedElsewhere: ON_HOST, repair: { after: REPAIR_AFTER, plan: repairContainer } },
  owner: async (db, key) => (await containerOfKey(db, key))?.owner_id ?? null,
};
