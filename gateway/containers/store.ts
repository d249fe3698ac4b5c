/**
 * Containers in the database, their allocated host ports, and the spec a container.apply
 * carries. Routes and observers read and write through here; handlers never do.
 */
import type { Knex } from 'knex';
import { PUBLISHED_PORT_RANGE, type ContainerLimits } from '../../lib/validate/containers.ts';
import type { ContainerSpec } from '../../queues/containers/ops.ts';
import type { HostRow } from '../hosts/store.ts';
import { containerSecretsOf } from '../secrets/store.ts';

/** What the owner asked for, normalized: limits filled in from the defaults. */
export interface StoredContainerSpec {
  image: string;
  command: string[];
  env: Record<string, string>;
  ports: { container: number }[];
  volumes: { name: string; target: string; readOnly: boolean }[];
  limits: ContainerLimits;
  restart: ContainerSpec['restart'];
  healthcheck: ContainerSpec['healthcheck'];
  /** The owner's secrets it reads (absent in specs written before secrets existed). */
  secrets?: { name: string; env?: string }[];
}

export interface ContainerRow {
  id: string;
  name: string;
  owner_id: string;
  host: string;
  spec: StoredContainerSpec;
  generation: number;
  running: boolean;
  status: string | null;
  applied_generation: number | null;
  last_error: string | null;
  /** The app the container is a replica of, and the service it serves under (what routes name); null for a container of its own. */
  app_id?: string | null;
  service?: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A container's limits when its spec does not say: small, as a plan's default would be. */
export const DEFAULT_CONTAINER_LIMITS: ContainerLimits = { memoryMb: 256, cpus: 0.5, pids: 256 };

/** Host ports `up` hands out to containers, one per published container port. */
export const PORT_RANGE = PUBLISHED_PORT_RANGE;

/** The name routes reach a container by: its service's, or its own. */
export const upstreamName = (row: Pick<ContainerRow, 'name' | 'service'>) => row.service ?? row.name;

/** `<name>-<tenant>`: the podman name (tenant names have no hyphen). */
export const containerKey = (name: string, tenant: string) => `${name}-${tenant}`;

/** The tenant's podman network on each host; isolated from every other tenant's (podman's isolate option). */
export const tenantNetwork = (tenant: string) => `up-${tenant}`;

export interface Owner {
  id: string;
  name: string;
  subid_start: string | number | null;
}

/** Whose a container is, as its host needs it: the owner's id range and network. */
export function tenantOf(owner: Owner): ContainerSpec['tenant'] {
  if (owner.subid_start === null) throw new Error(`user ${owner.name} has no subordinate id range`);
  return { name: owner.name, subidStart: Number(owner.subid_start), network: tenantNetwork(owner.name) };
}

export async function ownerOf(db: Knex, ownerId: string): Promise<Owner> {
  const owner: Owner | undefined = await db('users').where({ id: ownerId }).first('id', 'name', 'subid_start');
  if (!owner) throw new Error(`container owner ${ownerId} does not exist`);
  return owner;
}

/** The address published ports bind to: what the proxies reach (label `publish-address`), else the host's address. */
export const publishAddress = (host: Pick<HostRow, 'address' | 'labels'>) => host.labels?.['publish-address'] ?? host.address;

export async function portsOf(db: Knex, containerId: string): Promise<{ container: number; host: number }[]> {
  const rows: { container_port: number; port: number }[] = await db('container_ports')
    .where({ container_id: containerId })
    .orderBy('container_port');
  return rows.map((r) => ({ container: r.container_port, host: r.port }));
}

/**
 * Gives each published container port a host port: kept where the container already had one
 * for it, else a free one on the host picked at random: a port freed a moment ago comes back
 * rarely, and a host remembers a removed container's port for a while (netavark rules, tracked
 * connections that sent a new container's first requests nowhere). The primary key (host, port) makes two
 * concurrent allocations of one port fail rather than share it.
 */
export async function allocatePorts(trx: Knex.Transaction, container: Pick<ContainerRow, 'id' | 'host'>, wanted: number[]): Promise<void> {
  const kept = new Set(wanted);
  await trx('container_ports')
    .where({ container_id: container.id })
    .whereNotIn('container_port', [...kept])
    .delete();
  const had = new Set((await portsOf(trx, container.id)).map((p) => p.container));
  for (const containerPort of wanted.filter((p) => !had.has(p))) {
    const row = await trx
      .select(trx.raw('p as port'))
      .from(trx.raw('generate_series(?::int, ?::int) as p', [PORT_RANGE.first, PORT_RANGE.last]))
      .whereNotExists(trx('container_ports').where({ host: container.host }).whereRaw('port = p'))
      .orderByRaw('random()')
      .first();
    if (!row?.port) throw new Error(`no free port left on ${container.host} (${PORT_RANGE.first}-${PORT_RANGE.last})`);
    await trx('container_ports').insert({
      host: container.host,
      port: row.port,
      container_id: container.id,
      container_port: containerPort,
    });
  }
}

/** The spec a container.apply (or its repair) carries. */
export async function containerSpecOf(db: Knex, row: ContainerRow, host: HostRow): Promise<ContainerSpec> {
  const owner = await ownerOf(db, row.owner_id);
  const address = publishAddress(host);
  return {
    id: row.id,
    key: containerKey(row.name, owner.name),
    generation: row.generation,
    name: row.name,
    tenant: tenantOf(owner),
    image: row.spec.image,
    command: row.spec.command,
    env: row.spec.env,
    ports: (await portsOf(db, row.id)).map((p) => ({ ...p, address })),
    volumes: row.spec.volumes.map((v) => ({ volume: containerKey(v.name, owner.name), target: v.target, readOnly: v.readOnly })),
    limits: row.spec.limits,
    restart: row.spec.restart,
    healthcheck: row.spec.healthcheck,
    running: row.running,
    // Only when it has some: an older spec's message (and fingerprint on the host) stays as it was.
    ...(row.spec.secrets?.length ? { secrets: await containerSecretsOf(db, row.owner_id, row.spec.secrets) } : {}),
  };
}
