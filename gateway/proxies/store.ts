/**
 * Proxy groups and their members in the database, and the nginx layout their messages carry.
 * Routes and observers read and write through here; handlers never do.
 */
import { lookup } from 'node:dns/promises';
import type { Knex } from 'knex';
import type { Static } from 'typebox';
import type { NginxLayout } from '../../queues/proxies/ops.ts';
import type { HostRow } from '../hosts/store.ts';
import { NetworkSet, parseAddress } from '../../lib/validate/address.ts';
import { DenyList, upstreamDenyList, type UpstreamPolicy } from '../../lib/validate/upstream.ts';

export interface ProxyGroupRow {
  id: string;
  name: string;
  wildcard_domain: string;
  addresses: string[];
  base_dir: string;
  http_port: number;
  https_port: number;
  nginx_user: string;
  /** CIDRs every upstream of the group's sites must lie in; null: unrestricted. */
  upstream_networks: string[] | null;
  generation: number;
  created_at: Date;
  updated_at: Date;
}

export interface MemberRow extends HostRow {
  member_base_dir: string | null;
  applied_generation: number | null;
  last_error: string | null;
  /** The group's issuer (its first member by name): where the others pass ACME HTTP-01 requests. */
  acme_issuer?: string | null;
}

export const getProxy = (db: Knex, name: string): Promise<ProxyGroupRow | undefined> => db('proxy_groups').where({ name }).first();

export async function proxyMembers(db: Knex, groupId: string): Promise<MemberRow[]> {
  return db('proxy_members as m')
    .join('hosts as h', 'h.id', 'm.host_id')
    .where('m.group_id', groupId)
    .orderBy('h.name')
    .select('h.*', 'm.base_dir as member_base_dir', 'm.applied_generation', 'm.last_error')
    .then((rows: MemberRow[]) => withAcmeIssuer(rows));
}

/** The first member (by name) runs certbot; every other member passes it the ACME requests it cannot answer. */
export function withAcmeIssuer(members: MemberRow[]): MemberRow[] {
  const issuer = members[0];
  if (!issuer) return members;
  const address = issuer.address.toLowerCase();
  return members.map((m) => ({ ...m, acme_issuer: m.id === issuer.id ? null : address.includes(':') ? `[${address}]` : address }));
}

/** The group's nginx layout on one member (whose own base dir, if set, wins). */
export function layoutOf(group: ProxyGroupRow, member?: Pick<MemberRow, 'member_base_dir' | 'acme_issuer'>): Static<typeof NginxLayout> {
  return {
    group: group.name,
    baseDir: member?.member_base_dir ?? group.base_dir,
    httpPort: group.http_port,
    nginxUser: group.nginx_user,
    ipv6: group.addresses.some((a) => a.includes(':')),
    httpsPort: group.https_port ?? 443,
    ...(member?.acme_issuer !== undefined ? { acmeIssuer: member.acme_issuer && `${member.acme_issuer}:${group.http_port}` } : {}),
    ...(group.upstream_networks ? { upstreamNetworks: group.upstream_networks } : {}),
  };
}

/**
 * Where a group's sites may send requests, from the inventory: never the group's public
 * addresses or its members (any port: that is the proxy itself), never a managed host's SSH
 * endpoint or UP_UPSTREAM_DENY, and inside the group's upstream networks when it has them.
 */
export async function upstreamPolicy(db: Knex, group: ProxyGroupRow): Promise<UpstreamPolicy> {
  const members = await proxyMembers(db, group.id);
  const hosts: (PublisherHost & { port: number })[] = await db('hosts').select('address', 'port', 'roles', 'labels');
  const self = new NetworkSet();
  for (const address of [...group.addresses, ...members.map((m) => m.address)]) for (const a of await addressesOf(address)) self.add(a);
  const ssh = DenyList.ofEndpoints(
    (await Promise.all(hosts.map(async (h) => (await addressesOf(h.address)).map((address) => ({ address, port: h.port }))))).flat(),
  );
  return {
    self,
    deny: [upstreamDenyList(), ssh],
    allowed: group.upstream_networks ? new NetworkSet(group.upstream_networks) : null,
    publishers: await publishersOf(hosts),
  };
}

type PublisherHost = { address: string; roles: string[]; labels: Record<string, string> | null };

/** Containers hosts' addresses and publish addresses (label `publish-address`), resolved: where tenants' containers are published. */
async function publishersOf(hosts: PublisherHost[]): Promise<NetworkSet> {
  const set = new NetworkSet();
  const addresses = hosts
    .filter((h) => h.roles.includes('containers'))
    .flatMap((h) => [h.address, ...(h.labels?.['publish-address'] ? [h.labels['publish-address']] : [])]);
  for (const address of new Set(addresses)) for (const a of await addressesOf(address)) if (!set.has(a)) set.add(a);
  return set;
}

/** The publishers as a website.apply carries them, for the handler's own check of fixed upstreams. */
export async function publisherAddresses(db: Knex): Promise<string[]> {
  return (await publishersOf(await db('hosts').select('address', 'roles', 'labels'))).networks;
}

/** A host's address as addresses: itself, or what its DNS name resolves to (within 2 s; nothing if it does not). */
async function addressesOf(address: string): Promise<string[]> {
  const parsed = parseAddress(address);
  if (parsed) return [parsed.text];
  const timeout = new Promise<[]>((resolve) => setTimeout(() => resolve([]), 2_000).unref());
  const found = lookup(address, { all: true }).then(
    (rows) => rows.map((r) => r.address),
    () => [],
  );
  return (await Promise.race([found, timeout])).flatMap((a) => parseAddress(a)?.text ?? []);
}

export async function wildcardDomains(db: Knex): Promise<string[]> {
  return (await db('proxy_groups').select('wildcard_domain')).map((r: { wildcard_domain: string }) => r.wildcard_domain);
}
