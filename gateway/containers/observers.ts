/** What container jobs tell about the host: the generation it converged to and podman's state, or why not. */
import type { Knex } from 'knex';
import { healthRepairContainer } from '../../queues/containers/health.ts';
import { containerApply, containerRestart, containerStart, containerStop } from '../../queues/containers/ops.ts';
import { observe, type ObservedJob, type Outcome } from '../observe.ts';

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

export const containerObservers = [
  observe(containerApply, reported),
  observe(containerStart, reported),
  observe(containerStop, reported),
  observe(containerRestart, reported),
  observe(healthRepairContainer, reported),
];
