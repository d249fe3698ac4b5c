/**
 * Every app with serving replicas is checked on its host each round as one resource,
 * `<app>-<tenant>@<host>`: each replica there, running, healthy, not restarting, answering HTTP
 * on the port nginx routes to. A failing app is repaired by health.repair.app (restart, then
 * recreate, the replicas that still fail); one alarm per cause when that does not help. Its
 * replicas are not container checks of their own, and its site's 502 is the app's to alarm.
 * The app is not checked while a deploy is in flight: the deploy's jobs report on it then.
 */
import type { Knex } from 'knex';
import { healthCheckApp, healthRepairApp, servingReplicaOf } from '../../queues/apps/health.ts';
import type { CheckResult } from '../../queues/health/checks.ts';
import { containerKey, containerSpecOf, ownerOf, type ContainerRow } from '../containers/store.ts';
import type { CheckKind } from '../domain.ts';
import { FAIL_AFTER, hasCause, ON_HOST, REPAIR_AFTER } from '../health/policy.ts';
import { getHostByName, hostRefOf, type HostRow } from '../hosts/store.ts';
import { plan, type JobPlan } from '../plan.ts';
import { targetOf } from './plans.ts';
import { appRefOf, type AppRow } from './store.ts';

const IN_FLIGHT = ['building', 'starting', 'switching'];

const checkKey = (key: string, host: string) => `${key}@${host}`;

/** The app a check key names, looked up by its name, its owner's name and its host. */
async function appOfKey(db: Knex, key: string): Promise<AppRow | null> {
  const [appKey, host] = key.split('@');
  const cut = appKey?.lastIndexOf('-') ?? -1;
  if (!host || cut < 1) return null;
  const row = await db('apps as a')
    .join('users as u', 'u.id', 'a.owner_id')
    .where({ 'a.name': appKey.slice(0, cut), 'u.name': appKey.slice(cut + 1), 'a.host': host })
    .first('a.*');
  return row ?? null;
}

const servingReplicas = (db: Knex, app: Pick<AppRow, 'id' | 'name'>): Promise<ContainerRow[]> =>
  db('containers').where({ app_id: app.id, service: app.name }).orderBy('name');

async function repairApp(db: Knex, check: CheckResult): Promise<JobPlan | null> {
  if (hasCause(check, 'unreachable')) return null;
  const app = await appOfKey(db, check.resource.key);
  const host = app?.host ? await getHostByName(db, app.host) : null;
  if (!app || !host) return null;
  const replicas = await servingReplicas(db, app);
  if (replicas.length === 0) return null;
  return plan({
    op: healthRepairApp,
    payload: {
      host: await hostRefOf(db, host),
      app: await appRefOf(db, app),
      replicas: await Promise.all(replicas.map((r) => containerSpecOf(db, r, host))),
    },
    target: targetOf(app),
    ownerId: app.owner_id,
  });
}

export const appChecks: CheckKind = {
  type: 'app',
  op: healthCheckApp,
  async plan(db, round) {
    const apps: (AppRow & { restarts: Record<string, number> | null })[] = await db('apps as a')
      .whereNotNull('a.host')
      .leftJoin('users as u', 'u.id', 'a.owner_id')
      .leftJoin('health as h', (j) =>
        j.on('h.resource_type', db.raw('?', ['app'])).andOn('h.resource_key', db.raw("a.name || '-' || u.name || '@' || a.host")),
      )
      .select('a.*', 'h.measurements as restarts')
      .orderBy(['a.host', 'a.name']);
    const hosts = new Map<string, HostRow | undefined>();
    const planned: JobPlan[] = [];
    for (const app of apps) {
      if (app.deploy && IN_FLIGHT.includes(app.deploy.state)) continue;
      const replicas = await servingReplicas(db, app);
      // A replica being changed is its job's to report: judging it half-applied would start a repair that races it.
      if (replicas.length === 0 || replicas.some((r) => r.applied_generation === null || r.applied_generation < r.generation)) continue;
      if (!hosts.has(app.host!)) hosts.set(app.host!, await getHostByName(db, app.host!));
      const host = hosts.get(app.host!);
      if (!host || host.maintenance) continue;
      const owner = await ownerOf(db, app.owner_id);
      const resource = { type: 'app', key: checkKey(containerKey(app.name, owner.name), host.name) };
      const spec = await Promise.all(replicas.map((r) => containerSpecOf(db, r, host)));
      const payload = {
        resource,
        host: await round.refOf(host),
        app: {
          key: containerKey(app.name, owner.name),
          replicas: spec.map((s) => servingReplicaOf(s, Number(app.restarts?.[`restarts:${s.key}`] ?? 0))),
        },
      };
      planned.push(plan({ op: healthCheckApp, payload, target: resource.key }));
    }
    return planned;
  },
  /** Every placed app is still there while it deploys (unchecked then): its health and alarms stay. */
  async keys(db) {
    const rows: { name: string; owner: string; host: string }[] = await db('apps as a')
      .join('users as u', 'u.id', 'a.owner_id')
      .whereNotNull('a.host')
      .select('a.name', 'u.name as owner', 'a.host');
    return new Set(rows.map((r) => checkKey(containerKey(r.name, r.owner), r.host)));
  },
  policy: { failAfter: FAIL_AFTER, causedElsewhere: ON_HOST, repair: { after: REPAIR_AFTER, plan: repairApp } },
  owner: async (db, key) => (await appOfKey(db, key))?.owner_id ?? null,
};
