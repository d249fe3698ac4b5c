/**
 * The jobs of a container change, written with the change in one transaction (outbox): the
 * owner's Unix user and id range on the host first (tenant.provision, which the container's
 * jobs wait for), then the container's own job on the one host it is placed on.
 */
import type { Knex } from 'knex';
import {
  containerApply,
  containerDelete,
  containerLogs,
  containerRestart,
  containerStart,
  containerStop,
} from '../../queues/containers/ops.ts';
import type { OwnedKind } from '../domain.ts';
import { getHostByName, hostRefOf, type HostRow } from '../hosts/store.ts';
import { plan, type JobPlan } from '../plan.ts';
import { tenantJobs } from '../users/plans.ts';
import { containerKey, containerSpecOf, ownerOf, tenantOf, type ContainerRow } from './store.ts';

export const POWER_OPS = { start: containerStart, stop: containerStop, restart: containerRestart } as const;
export type PowerVerb = keyof typeof POWER_OPS;

/** A container job's target: what it is and where it runs. */
export const targetOf = (row: Pick<ContainerRow, 'name' | 'host'>) => `container/${row.name}@${row.host}`;

async function hostOf(db: Knex, row: ContainerRow): Promise<HostRow> {
  const host = await getHostByName(db, row.host);
  if (!host) throw new Error(`container ${row.id} is placed on ${row.host}, which is not registered`);
  return host;
}

/** What a container.apply (and its repair) carries. */
export async function containerApplyOf(db: Knex, row: ContainerRow) {
  const host = await hostOf(db, row);
  const payload = { host: await hostRefOf(db, host), container: await containerSpecOf(db, row, host) };
  return { payload, target: targetOf(row), generation: row.generation, ownerId: row.owner_id };
}

export async function applyJobs(db: Knex, row: ContainerRow): Promise<JobPlan[]> {
  const host = await hostOf(db, row);
  return [...(await tenantJobs(db, [row.owner_id], [host])), plan({ op: containerApply, ...(await containerApplyOf(db, row)) })];
}

async function containerRefOf(db: Knex, row: ContainerRow) {
  const owner = await ownerOf(db, row.owner_id);
  return { id: row.id, key: containerKey(row.name, owner.name), generation: row.generation, tenant: tenantOf(owner) };
}

export async function powerJob(db: Knex, row: ContainerRow, verb: PowerVerb): Promise<JobPlan> {
  const host = await hostOf(db, row);
  return plan({
    op: POWER_OPS[verb],
    payload: { host: await hostRefOf(db, host), container: await containerRefOf(db, row) },
    target: targetOf(row),
    generation: row.generation,
    ownerId: row.owner_id,
  });
}

/** A read of a container's last log lines on its host, as its owner's job; null when its host is not registered. */
export async function logsJob(db: Knex, row: ContainerRow, read: { tail: number; since?: string }): Promise<JobPlan | null> {
  const host = await getHostByName(db, row.host);
  if (!host) return null;
  const owner = await ownerOf(db, row.owner_id);
  return plan({
    op: containerLogs,
    payload: {
      host: await hostRefOf(db, host),
      container: { id: row.id, key: containerKey(row.name, owner.name) },
      tail: read.tail,
      ...(read.since ? { since: read.since } : {}),
    },
    target: targetOf(row),
    ownerId: row.owner_id,
  });
}

/** The row goes now (its ports with it); the host removes the container, at a generation above every earlier job's. */
export async function containerRemoval(trx: Knex.Transaction, row: ContainerRow): Promise<JobPlan[]> {
  const host = await hostOf(trx, row);
  const gone = { ...row, generation: row.generation + 1 };
  const job = plan({
    op: containerDelete,
    payload: { host: await hostRefOf(trx, host), container: await containerRefOf(trx, gone) },
    target: targetOf(row),
    generation: gone.generation,
    ownerId: row.owner_id,
  });
  await trx('containers').where({ id: row.id }).delete();
  return [job];
}

/** Deleting a user deletes their containers the way DELETE /v1/containers/:container does. */
export const OWNED_CONTAINER_KIND: OwnedKind = {
  kind: 'containers',
  table: 'containers',
  planRemoval: (trx, row) => containerRemoval(trx, row as unknown as ContainerRow),
};
