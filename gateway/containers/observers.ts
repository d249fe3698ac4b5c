/** What container jobs tell about the host: the generation it converged to and podman's state, or why not. */
import type { Knex } from 'knex';
import { healthRepairContainer } from '../../queues/containers/health.ts';
import { containerApply, containerRestart, containerStart, containerStop } from '../../queues/containers/ops.ts';
import { observe, type ObservedJob, type ObserverContext, type Outcome } from '../observe.ts';
import { writePlans } from '../plan.ts';
import { sitesNaming } from '../websites/container-upstreams.ts';
import { rerenderJobs } from '../websites/plans.ts';
import { upstreamName } from './store.ts';

type ContainerJob =
  | typeof containerApply
  | typeof containerStart
  | typeof containerStop
  | typeof containerRestart
  | typeof healthRepairContainer;

async function reported<O extends ContainerJob>(db: Knex, job: ObservedJob<O>, event: Outcome<O>): Promise<void> {
  const { container } = job.payload;
  if (event.status === 'superseded') return;
  const row =
    event.status === 'succeeded' && event.result
      ? { applied_generation: container.generation, status: event.result.status, last_error: null }
      : { last_error: event.error?.message ?? event.status };
  // Only a report about the current generation (or a newer one) says how the container is now.
  await db('containers').where({ id: container.id }).where('generation', '<=', container.generation).update(row);
}

/**
 * A container (re)created from a new generation may sit on another host or port than the
 * sites that route to it were rendered with (created again after a forced delete, its ports
 * changed): those sites get a new generation and a website.apply on every member, published at
 * once. Only a report about the current generation counts: an older one says nothing of now.
 */
async function rerouted(
  db: Knex,
  job: ObservedJob<typeof containerApply>,
  event: Outcome<typeof containerApply>,
  context: ObserverContext,
): Promise<void> {
  await reported(db, job, event);
  const { container } = job.payload;
  if (event.status !== 'succeeded') return;
  const row: { owner_id: string; generation: number; name: string; service: string | null } | undefined = await db('containers')
    .where({ id: container.id })
    .first('owner_id', 'generation', 'name', 'service');
  if (!row || row.generation !== container.generation) return;
  const jobs = await db.transaction(async (trx) => {
    const sites = await sitesNaming(trx, row.owner_id, upstreamName(row));
    if (sites.length === 0) return [];
    return writePlans(
      trx,
      await rerenderJobs(trx, sites),
      { actor: 'system:containers', tenant: job.tenant, ownerId: row.owner_id },
      { correlationId: job.correlation_id },
    );
  });
  context.publish(jobs);
}

export const containerObservers = [
  observe(containerApply, rerouted),
  observe(containerStart, reported),
  observe(containerStop, reported),
  observe(containerRestart, reported),
  observe(healthRepairContainer, reported),
];
