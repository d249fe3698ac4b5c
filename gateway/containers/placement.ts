/**
 * Where a new container goes: the host an admin names, or the least loaded host with the
 * `containers` role that has room (a first, simple placement: memory limits placed so far
 * against the host's `capacity.memoryMb`, when the admin set one).
 */
import type { Knex } from 'knex';
import { HttpError } from '../plugins/errors.ts';
import type { HostRow } from '../hosts/store.ts';

export const CONTAINERS_ROLE = 'containers';

async function placedMemory(trx: Knex, host: string): Promise<number> {
  const row = await trx('containers')
    .where({ host })
    .sum({ mb: trx.raw("(spec->'limits'->>'memoryMb')::int") })
    .first();
  return Number(row?.mb ?? 0);
}

const room = (host: HostRow, used: number) => (host.capacity?.memoryMb ?? Number.POSITIVE_INFINITY) - used;

export async function placeContainer(trx: Knex.Transaction, memoryMb: number, named?: string): Promise<HostRow> {
  if (named) {
    // Locked: two placements on one host count each other's memory.
    const host: HostRow | undefined = await trx('hosts').where({ name: named }).forUpdate().first();
    if (!host) throw new HttpError(404, 'not_found', 'host not found');
    if (!host.roles.includes(CONTAINERS_ROLE))
      throw new HttpError(422, 'unprocessable', `host ${named} does not have the ${CONTAINERS_ROLE} role: add it and run up hosts prepare`);
    if (room(host, await placedMemory(trx, host.name)) < memoryMb)
      throw new HttpError(422, 'unprocessable', `host ${named} has no room for ${memoryMb} MiB more (capacity.memoryMb)`);
    return host;
  }
  const hosts: HostRow[] = await trx('hosts')
    .whereRaw('? = any(roles)', [CONTAINERS_ROLE])
    .where({ maintenance: false })
    .orderBy('name')
    .forUpdate();
  let best: { host: HostRow; used: number } | null = null;
  for (const host of hosts) {
    const used = await placedMemory(trx, host.name);
    if (room(host, used) >= memoryMb && (!best || used < best.used)) best = { host, used };
  }
  if (!best)
    throw new HttpError(
      422,
      'unprocessable',
      hosts.length
        ? `no host with the ${CONTAINERS_ROLE} role has room for ${memoryMb} MiB`
        : `no host has the ${CONTAINERS_ROLE} role yet`,
    );
  return best.host;
}
