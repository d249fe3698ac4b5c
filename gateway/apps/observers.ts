/** The recorder drives a deploy from one step to the next (plans.ts says the chain). */
import { join } from 'node:path';
import type { Knex } from 'knex';
import { contentStoreDir } from '../../lib/config.ts';
import { healthRepairApp } from '../../queues/apps/health.ts';
import { websiteDeploy } from '../../queues/websites/ops.ts';
import { appBuild, appRetire, appRollout } from '../../queues/apps/ops.ts';
import { observe, type ObservedJob, type ObserverContext, type Outcome } from '../observe.ts';
import { writePlans, type JobPlan } from '../plan.ts';
import { proxyMembers, type ProxyGroupRow } from '../proxies/store.ts';
import { placeArchive } from '../websites/content-store.ts';
import { deployJobs } from '../websites/plans.ts';
import type { WebsiteRow } from '../websites/store.ts';
import { deployConclusion, releaseJobs, switchJobs } from './plans.ts';
import { recordDeploy, recordStaticJob, type AppRow } from './store.ts';

/**
 * Runs `step` for the app the job is about, when the job is still the app's current deploy step
 * (an outcome arriving twice, or about a deploy since replaced, changes nothing), and publishes
 * what it planned.
 */
async function step(
  db: Knex,
  job: ObservedJob<typeof appBuild | typeof appRollout | typeof appRetire>,
  context: ObserverContext,
  fn: (trx: Knex.Transaction, app: AppRow) => Promise<JobPlan[]>,
): Promise<void> {
  const jobs = await db.transaction(async (trx) => {
    const app: AppRow | undefined = await trx('apps').where({ id: job.payload.app.id }).forUpdate().first();
    if (!app || app.deploy?.jobId !== job.id) return [];
    const plans = await fn(trx, app);
    return writePlans(
      trx,
      plans,
      { actor: 'system:apps', tenant: job.tenant, ownerId: app.owner_id },
      { correlationId: job.correlation_id },
    );
  });
  context.publish(jobs);
}

const failed = (event: Outcome<typeof appBuild | typeof appRollout | typeof appRetire>) =>
  event.error?.message ?? `the job ended ${event.status}`;

/** Built: the static files go to the site's document root on every proxy member, and the image is released. */
async function built(db: Knex, job: ObservedJob<typeof appBuild>, event: Outcome<typeof appBuild>, context: ObserverContext) {
  await step(db, job, context, async (trx, app) => {
    if (event.status !== 'succeeded' || !event.result) {
      await recordDeploy(trx, app.id, { state: 'failed', error: failed(event), log: null });
      return [];
    }
    const { image, staticArchive, log } = event.result;
    const plans: JobPlan[] = [];
    if (staticArchive) {
      const { temp, ...archive } = staticArchive;
      await placeArchive(trx, join(contentStoreDir(), temp), app.website_id, archive);
      const site: WebsiteRow = await trx('websites').where({ id: app.website_id }).first();
      const group: ProxyGroupRow = await trx('proxy_groups').where({ id: site.proxy_group_id }).first();
      const copies = await deployJobs(trx, group, await proxyMembers(trx, group.id), site, {
        sha256: archive.sha256,
        bytes: archive.bytes,
      });
      plans.push(
        ...copies.map((copy) => ({
          ...copy,
          alsoInTransaction: (t: Knex.Transaction, jobId: string) => recordStaticJob(t, app.id, jobId),
        })),
      );
    }
    plans.push(...(await releaseJobs(trx, app, image, 'upload')));
    // The release starts a new deploy record: the build's log stays on it.
    await recordDeploy(trx, app.id, { log });
    return plans;
  });
}

/** Ready: the site switches to the new replicas; failed: they are gone on the host, their rows go too. */
async function rolledOut(db: Knex, job: ObservedJob<typeof appRollout>, event: Outcome<typeof appRollout>, context: ObserverContext) {
  await step(db, job, context, async (trx, app) => {
    const ids = job.payload.replicas.map((r) => r.id);
    if (event.status !== 'succeeded') {
      await trx('containers').whereIn('id', ids).delete();
      await recordDeploy(trx, app.id, { state: 'failed', error: failed(event) });
      return [];
    }
    return switchJobs(trx, app, job.payload.release, job.payload.replicas[0].image);
  });
}

/**
 * Retired: the old release's rows go; the deploy is done either way once its static files are
 * out (a replica left over is named in the error).
 */
async function retired(db: Knex, job: ObservedJob<typeof appRetire>, event: Outcome<typeof appRetire>, context: ObserverContext) {
  await step(db, job, context, async (trx, app) => {
    if (event.status === 'succeeded') {
      await trx('containers')
        .whereIn(
          'id',
          job.payload.replicas.map((r) => r.id),
        )
        .whereNull('service')
        .delete();
      await recordDeploy(trx, app.id, await deployConclusion(trx, app));
    } else {
      const conclusion = await deployConclusion(trx, app);
      await recordDeploy(
        trx,
        app.id,
        conclusion.error ? conclusion : { ...conclusion, error: `the previous release's replicas were not removed: ${failed(event)}` },
      );
    }
    return [];
  });
}

/** A proxy member has the static files of a deploy that waits only for them: the last one ends it. */
async function staticDeployed(db: Knex, job: ObservedJob<typeof websiteDeploy>): Promise<void> {
  await db.transaction(async (trx) => {
    const app: AppRow | undefined = await trx('apps')
      .whereRaw(`deploy->'staticJobs' @> ?::jsonb`, [JSON.stringify([job.id])])
      .forUpdate()
      .first();
    if (app?.deploy?.state === 'publishing') await recordDeploy(trx, app.id, await deployConclusion(trx, app));
  });
}

/** What the app's repair did to its replicas: the ones it restarted or recreated run their generation again. */
async function repaired(db: Knex, job: ObservedJob<typeof healthRepairApp>, event: Outcome<typeof healthRepairApp>): Promise<void> {
  if (event.status !== 'succeeded' || !event.result) return;
  for (const { key, status } of event.result.replicas) {
    const spec = job.payload.replicas.find((r) => r.key === key);
    if (!spec) continue;
    await db('containers')
      .where({ id: spec.id })
      .where('generation', '<=', spec.generation)
      .update({ applied_generation: spec.generation, status, last_error: null });
  }
}

export const appObservers = [
  observe(appBuild, built),
  observe(appRollout, rolledOut),
  observe(appRetire, retired),
  observe(healthRepairApp, repaired),
  observe(websiteDeploy, staticDeployed),
];
