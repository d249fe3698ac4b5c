/**
 * The jobs of an app, written with its desired state in one transaction. A deploy is a chain
 * the recorder drives (observers.ts): app.build (when the template builds from source) → the
 * static files to the site's document root and app.rollout of a new release → the site routed
 * to the new replicas (website.apply on every proxy member) → app.retire of the release before.
 * Every other change of what runs (image, env, replicas, rollback) is a new release the same way.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { loadAppTemplate, renderAppSpec, renderContainerfile, type AppSpec } from '../../lib/app-templates.ts';
import { appBuild, appRetire, appRollout } from '../../queues/apps/ops.ts';
import { isFinal, type JobStatus } from '../../queues/job-status.ts';
import type { OwnedKind } from '../domain.ts';
import {
  allocatePorts,
  containerSpecOf,
  DEFAULT_CONTAINER_LIMITS,
  type ContainerRow,
  type StoredContainerSpec,
} from '../containers/store.ts';
import { containerRemoval } from '../containers/plans.ts';
import { getHostByName, hostRefOf, type HostRow } from '../hosts/store.ts';
import { plan, type JobPlan } from '../plan.ts';
import { conflict } from '../plugins/errors.ts';
import { layoutOf, proxyMembers, type ProxyGroupRow } from '../proxies/store.ts';
import { tenantJobs } from '../users/plans.ts';
import { rerenderJobs, siteRemoval } from '../websites/plans.ts';
import type { WebsiteRow } from '../websites/store.ts';
import { databaseUrlSecret, databaseUrlUses } from './database.ts';
import { appRefOf, recordDeploy, replicaName, type AppRow, type DeployRecord } from './store.ts';

/** How long a release's replicas have to become ready before the deploy fails. */
export const READY_SECONDS = 120;
/** Publishing is not busy: a new deploy may start while the last one's static files travel (it replaces them). */
const BUSY: DeployRecord['state'][] = ['building', 'starting', 'switching'];

export const targetOf = (app: Pick<AppRow, 'name' | 'host'>) => `app/${app.name}@${app.host ?? 'proxies'}`;

async function hostOf(db: Knex, app: AppRow): Promise<HostRow> {
  if (!app.host) throw new Error(`app ${app.id} runs no container`);
  const host = await getHostByName(db, app.host);
  if (!host) throw new Error(`app ${app.id} is placed on ${app.host}, which is not registered`);
  return host;
}

/** An image no host has: what a spec names where the app's own image is not known (yet). */
const NO_IMAGE = 'localhost/up-unbuilt:latest';

/**
 * What the app's template makes of it, running `image`: for a template that needs one and is
 * given none (asking only what the app serves), an image no host has.
 */
export function specOf(app: Pick<AppRow, 'name' | 'template'>, image?: string | null): AppSpec {
  const template = loadAppTemplate(app.template);
  const named = image ?? (template.meta.needs.includes('image') ? NO_IMAGE : undefined);
  return renderAppSpec(template, { name: app.name, ...(named ? { image: named } : {}) });
}

/** One deploy at a time: a second one would race the first for the site's route. */
export function refuseWhileDeploying(app: AppRow): void {
  if (app.deploy && BUSY.includes(app.deploy.state))
    throw conflict(`a deploy of ${app.name} is ${app.deploy.state} (job ${app.deploy.jobId ?? 'pending'}): wait for it to end`);
}

const deployStarted = (cause: string, state: DeployRecord['state'], release: number | null, image: string | null): DeployRecord => ({
  state,
  release,
  image,
  cause,
  jobId: null,
  at: new Date().toISOString(),
  log: null,
  error: null,
});

/** Where the static files are in the image, and what fills them there (with the app's environment). */
function collectOf(app: AppRow) {
  const spec = specOf(app);
  return {
    staticDir: spec.staticDir,
    collect: spec.collect && spec.container ? { command: spec.collect, env: { ...spec.container.env, ...app.env } } : null,
  };
}

/**
 * A build of uploaded source: the image is tagged with the hash of what defines it (the source
 * and the rendered Containerfile), so the same upload twice builds once.
 */
export async function buildJob(trx: Knex.Transaction, app: AppRow, archive: { sha256: string; bytes: number }): Promise<JobPlan[]> {
  const template = loadAppTemplate(app.template);
  const containerfile = renderContainerfile(template, { name: app.name, ...(app.base_image ? { baseImage: app.base_image } : {}) });
  if (containerfile === null) throw new Error(`template ${app.template} builds nothing`);
  const ref = await appRefOf(trx, app);
  const digest = createHash('sha256').update(archive.sha256).update('\0').update(containerfile).digest('hex');
  const image = `localhost/up-app-${ref.key}:${digest.slice(0, 16)}`;
  await trx('apps')
    .where({ id: app.id })
    .update({ deploy: JSON.stringify(deployStarted('upload', 'building', null, image)), updated_at: trx.fn.now() });
  const host = await hostOf(trx, app);
  return [
    ...(await tenantJobs(trx, [app.owner_id], [host])),
    plan({
      op: appBuild,
      payload: { host: await hostRefOf(trx, host), app: ref, archive, containerfile, image, ...collectOf(app) },
      target: targetOf(app),
      resourceId: app.id,
      ownerId: app.owner_id,
      alsoInTransaction: (t, jobId) => recordDeploy(t, app.id, { jobId }),
    }),
  ];
}

/**
 * A new release of `image`: `replicas` new container rows beside the serving ones (outside the
 * app's service until they are ready, so no route reaches them yet), their ports allocated, and
 * the app.rollout that starts them.
 */
export async function releaseJobs(trx: Knex.Transaction, app: AppRow, image: string, cause: string): Promise<JobPlan[]> {
  const release = app.release + 1;
  const spec = specOf(app, image).container;
  if (!spec) throw new Error(`template ${app.template} runs no container`);
  const env = { ...spec.env, ...app.env };
  const stored: StoredContainerSpec = {
    image,
    command: spec.command,
    env,
    ports: [{ container: spec.port }],
    volumes: [],
    limits: DEFAULT_CONTAINER_LIMITS,
    restart: 'on-failure',
    healthcheck: spec.healthcheck,
    secrets: [...app.secrets, ...(await databaseUrlUses(trx, app, env))],
  };
  const host = await hostOf(trx, app);
  const rows: ContainerRow[] = [];
  for (let n = 1; n <= app.replicas; n++) {
    const name = replicaName(app, release, n);
    if (await trx('containers').where({ owner_id: app.owner_id, name }).first('id'))
      throw conflict(`you have a container named ${name}, which the app's release ${release} needs: rename or delete it`);
    const [row]: ContainerRow[] = await trx('containers')
      .insert({
        id: randomUUID(),
        name,
        owner_id: app.owner_id,
        host: host.name,
        spec: JSON.stringify(stored),
        generation: 1,
        running: true,
        app_id: app.id,
        service: null,
      })
      .returning('*');
    await allocatePorts(trx, row, [spec.port]);
    rows.push(row);
  }
  await trx('apps')
    .where({ id: app.id })
    .update({ release, deploy: JSON.stringify(deployStarted(cause, 'starting', release, image)), updated_at: trx.fn.now() });
  return [
    ...(await tenantJobs(trx, [app.owner_id], [host])),
    plan({
      op: appRollout,
      payload: {
        host: await hostRefOf(trx, host),
        app: await appRefOf(trx, app),
        release,
        replicas: await Promise.all(rows.map((row) => containerSpecOf(trx, row, host))),
        waitSeconds: READY_SECONDS,
      },
      target: targetOf(app),
      resourceId: app.id,
      ownerId: app.owner_id,
      alsoInTransaction: (t, jobId) => recordDeploy(t, app.id, { jobId }),
    }),
  ];
}

/**
 * The release is ready: its replicas join the app's service and the ones serving leave it, in
 * one transaction; the site gets a generation whose upstream is the new replicas, and the old
 * ones (if any: the first release has none) are retired once every proxy member serves it. The
 * deploy ends with that retirement: before, a proxy may still route to what was there.
 */
export async function switchJobs(trx: Knex.Transaction, app: AppRow, release: number, image: string): Promise<JobPlan[]> {
  const fresh: ContainerRow[] = await trx('containers').where({ app_id: app.id }).whereLike('name', `${app.name}-r${release}-%`);
  const old: ContainerRow[] = await trx('containers')
    .where({ app_id: app.id })
    .whereNotIn(
      'id',
      fresh.map((r) => r.id),
    );
  await trx('containers')
    .whereIn(
      'id',
      fresh.map((r) => r.id),
    )
    .update({ service: app.name, applied_generation: trx.raw('generation'), status: 'running', last_error: null });
  await trx('containers')
    .whereIn(
      'id',
      old.map((r) => r.id),
    )
    .update({ service: null });
  const previous = app.image && app.image !== image ? app.image : app.previous_image;
  await trx('apps').where({ id: app.id }).update({ image, previous_image: previous, updated_at: trx.fn.now() });
  await recordDeploy(trx, app.id, { state: 'switching' });
  const site: WebsiteRow = await trx('websites').where({ id: app.website_id }).first();
  const plans = await rerenderJobs(trx, [site]);
  const routed: WebsiteRow = await trx('websites').where({ id: app.website_id }).first();
  const group: ProxyGroupRow = await trx('proxy_groups').where({ id: routed.proxy_group_id }).first();
  const members = await proxyMembers(trx, group.id);
  const host = await hostOf(trx, app);
  const ref = await appRefOf(trx, app);
  return [
    ...plans,
    plan({
      op: appRetire,
      payload: {
        host: await hostRefOf(trx, host),
        app: ref,
        site: { id: routed.id, generation: routed.generation },
        proxies: await Promise.all(members.map(async (m) => ({ host: await hostRefOf(trx, m), layout: layoutOf(group, m) }))),
        replicas: old.map((r) => ({ id: r.id, key: `${r.name}-${ref.tenant.name}`, generation: r.generation })),
      },
      target: targetOf(app),
      resourceId: app.id,
      ownerId: app.owner_id,
      alsoInTransaction: (t, jobId) => recordDeploy(t, app.id, { jobId }),
    }),
  ];
}

/**
 * How a deploy whose release serves ends: when its static files reached every proxy member,
 * succeeded; while they are on their way, publishing (the last of them ends it); when they did
 * not reach one, failed, naming it: the new release's pages would ask for files that are not there.
 */
export async function deployConclusion(db: Knex, app: AppRow): Promise<Partial<DeployRecord>> {
  const ids = app.deploy?.staticJobs ?? [];
  const jobs: { status: JobStatus; target: string; error: { message?: string } | null }[] = ids.length
    ? await db('jobs').whereIn('id', ids).select('status', 'target', 'error')
    : [];
  if (!jobs.every((j) => isFinal(j.status))) return { state: 'publishing' };
  // Superseded: a newer upload of the site's files took its place, which is that deploy's to report.
  const failed = jobs.filter((j) => j.status !== 'succeeded' && j.status !== 'superseded');
  if (failed.length === 0) return { state: 'succeeded' };
  const where = failed.map((j) => j.target.slice(j.target.lastIndexOf('@') + 1)).join(', ');
  return {
    state: 'failed',
    error: `the new release serves, but its static files did not reach ${where}: ${failed[0].error?.message ?? failed[0].status}`,
  };
}

/** Deleting an app: its replicas (each removed from its host), then the app, then its site. */
export async function appRemoval(trx: Knex.Transaction, app: AppRow): Promise<JobPlan[]> {
  const replicas: ContainerRow[] = await trx('containers').where({ app_id: app.id }).forUpdate();
  const plans: JobPlan[] = [];
  for (const row of replicas) plans.push(...(await containerRemoval(trx, row)));
  await trx('apps').where({ id: app.id }).delete();
  // Its DATABASE_URL, which nothing else reads (the replicas' removals carry no secrets).
  await trx('secrets')
    .where({ owner_id: app.owner_id, name: databaseUrlSecret(app) })
    .delete();
  const site: WebsiteRow | undefined = await trx('websites').where({ id: app.website_id }).first();
  if (site) plans.push(...(await siteRemoval(trx, site)));
  return plans;
}

export const OWNED_APP_KIND: OwnedKind = {
  kind: 'apps',
  table: 'apps',
  planRemoval: (trx, row) => appRemoval(trx, row as unknown as AppRow),
};
