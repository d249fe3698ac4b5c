/**
 * Routes that name containers (`upstream: { container, port }`): checked against the site
 * owner's own containers, resolved to the host's publish address and the host port `up`
 * allocated, carried to website.apply beside the routes, and re-rendered when a container they
 * name is created, changed or removed. Only the owner's containers are ever looked at, so a name
 * of another tenant's container reads exactly like a name nobody has.
 */
import type { Knex } from 'knex';
import type { Static } from 'typebox';
import type { ContainerUpstream } from '../../lib/validate/web.ts';
import { parseEndpoint, publishedEndpoint, upstreamRefusal, type UpstreamPolicy } from '../../lib/validate/upstream.ts';
import type { SiteContainers } from '../../queues/websites/ops.ts';
import { containerKey, publishAddress } from '../containers/store.ts';
import type { HostRow } from '../hosts/store.ts';
import { HttpError, conflict } from '../plugins/errors.ts';
import type { StoredSpec, WebsiteRow } from './store.ts';

type Route = StoredSpec['routes'][number];
type Allocation = Static<typeof SiteContainers>;

export const namesContainer = (route: Route): route is Route & { upstream: ContainerUpstream } => typeof route.upstream !== 'string';

/** The container names a spec's routes use, each once. */
export const namedContainers = (spec: Pick<StoredSpec, 'routes'>): string[] => [
  ...new Set(spec.routes.filter(namesContainer).map((r) => r.upstream.container)),
];

/**
 * The owner's containers of these names with their published ports, as the allocation table says
 * now. A name is a container's own (outside any service) or a service's: every replica of an
 * app that serves, each one's ports under the service's name (an upstream over all of them).
 * `lock`: their rows FOR SHARE, so a delete of one (FOR UPDATE, then a look for the sites
 * naming it) waits for the site being written, or the site for the delete.
 */
export async function containerAllocation(db: Knex, ownerId: string, names: string[], lock = false): Promise<Allocation> {
  if (names.length === 0) return [];
  const owner: { name: string } | undefined = await db('users').where({ id: ownerId }).first('name');
  if (!owner) return [];
  const rows: { upstream: string; container_port: number | null; port: number | null; address: string; labels: HostRow['labels'] }[] =
    await db('containers as c')
      .join('hosts as h', 'h.name', 'c.host')
      .leftJoin('container_ports as p', 'p.container_id', 'c.id')
      .where('c.owner_id', ownerId)
      .where((q) => q.where((own) => own.whereIn('c.name', names).whereNull('c.service')).orWhereIn('c.service', names))
      .orderBy([{ column: 'upstream' }, 'c.name', 'p.container_port'])
      .select(db.raw('coalesce(c.service, c.name) as upstream'), 'p.container_port', 'p.port', 'h.address', 'h.labels')
      .modify((q) => {
        if (lock) q.forShare('c');
      });
  const byName = new Map<string, Allocation[number]>();
  for (const row of rows) {
    const entry = byName.get(row.upstream) ?? { name: row.upstream, key: containerKey(row.upstream, owner.name), ports: [] };
    byName.set(row.upstream, entry);
    if (row.container_port !== null && row.port !== null)
      entry.ports.push({ container: row.container_port, host: row.port, address: publishAddress(row) });
  }
  return [...byName.values()];
}

/** What a website.apply carries beside the routes: nothing for sites that name no container. */
export async function siteContainersOf(db: Knex, site: Pick<WebsiteRow, 'owner_id' | 'spec'>): Promise<{ containers?: Allocation }> {
  const names = namedContainers(site.spec);
  return names.length ? { containers: await containerAllocation(db, site.owner_id, names) } : {};
}

/**
 * The container routes of a spec under the group's upstream policy. Routes in the body must name
 * one of the owner's containers and a port it publishes (422 naming the field otherwise); a
 * stored route whose container went away (deleted with force) is kept, and answers 502 until
 * the container is back. Every endpoint a route resolves to is checked as a published port.
 */
export async function checkContainerRoutes(
  trx: Knex,
  site: { owner_id: string; tenant: string | null },
  spec: StoredSpec,
  policy: UpstreamPolicy,
  routesInBody: boolean,
): Promise<void> {
  const names = namedContainers(spec);
  if (names.length === 0) return;
  const allocation = await containerAllocation(trx, site.owner_id, names, true);
  spec.routes.forEach((route, i) => {
    if (!namesContainer(route)) return;
    const field = `body/routes/${i}/upstream`;
    const unprocessable = (why: string) => new HttpError(422, 'unprocessable', `${field} ${why}`, [`${field} ${why}`]);
    if (site.tenant === null && routesInBody) throw unprocessable("names a container: only a tenant's website routes to containers");
    const { container, port } = route.upstream;
    const entry = allocation.find((c) => c.name === container);
    const ports = entry?.ports.filter((p) => p.container === port) ?? [];
    if (routesInBody && !entry) throw unprocessable(`names ${container}: you have no container of that name`);
    if (routesInBody && ports.length === 0) throw unprocessable(`names port ${port} of ${container}, which it does not publish`);
    for (const p of ports) {
      const endpoint = parseEndpoint(publishedEndpoint(p));
      const reason = typeof endpoint === 'string' ? endpoint : upstreamRefusal(endpoint, policy, true);
      if (!reason) continue;
      if (routesInBody) throw unprocessable(`(${container} port ${port}, published at ${p.address}:${p.host}) ${reason}`);
      throw conflict(`the stored route ${route.path} (container ${container} port ${port}) ${reason}: send new routes`);
    }
  });
}

/** The owner's sites whose routes name this container. */
export async function sitesNaming(db: Knex, ownerId: string, container: string): Promise<WebsiteRow[]> {
  return db('websites')
    .where({ owner_id: ownerId })
    .whereRaw(`spec->'routes' @> ?::jsonb`, [JSON.stringify([{ upstream: { container } }])])
    .orderBy('name');
}
