/**
 * Proxy groups and websites in the database, and the snapshots their messages carry.
 * Routes and observers read and write through here; handlers never do.
 */
import { join } from 'node:path';
import type { Knex } from 'knex';
import type { Static } from 'typebox';
import { loadConfig } from '../config.ts';
import type { NginxLayout } from '../../queues/ops/proxy.ts';
import type { WebsiteSpec } from '../../queues/ops/website.ts';
import type { ResultEvent } from '../../queues/result-event.ts';
import type { HostRow } from './hosts.ts';

export interface ProxyGroupRow {
  id: string;
  name: string;
  wildcard_domain: string;
  addresses: string[];
  base_dir: string;
  http_port: number;
  https_port: number;
  nginx_user: string;
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

/** The stored, normalized spec of a site (domains in punycode, password hashes only). */
export interface StoredSpec {
  domains: string[];
  static: boolean;
  routes: { path: string; upstream: string; websocket: boolean }[];
  maxBodySize: string;
  basicAuth: { realm: string; users: { name: string; hash: string }[] } | null;
  errorPages: Static<typeof WebsiteSpec>['errorPages'];
  headers: Static<typeof WebsiteSpec>['headers'];
  wwwRedirect: 'none' | 'to-apex' | 'to-www';
  httpsRedirect: boolean;
}

export interface WebsiteRow {
  id: string;
  name: string;
  owner_id: string;
  proxy_group_id: string;
  temp_domain: string;
  spec: StoredSpec;
  generation: number;
  tls: boolean;
  created_at: Date;
  updated_at: Date;
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
  };
}

/** Names the vhost answers to and the www redirect, derived from the primary domain. */
export function namesOf(spec: Pick<StoredSpec, 'domains' | 'wwwRedirect'>): { serve: string[]; redirects: { from: string; to: string }[] } {
  const [primary] = spec.domains;
  if (!primary || spec.wwwRedirect === 'none') return { serve: spec.domains, redirects: [] };
  const apex = primary.replace(/^www\./, '');
  const www = `www.${apex}`;
  const [canonical, other] = spec.wwwRedirect === 'to-apex' ? [apex, www] : [www, apex];
  const serve = [...new Set([canonical, ...spec.domains.filter((d) => d !== other)])];
  return { serve, redirects: [{ from: other, to: canonical }] };
}

/** Every name a site claims (no other user may use any of them). */
export function claimedNames(spec: Pick<StoredSpec, 'domains' | 'wwwRedirect'>): string[] {
  const { serve, redirects } = namesOf(spec);
  return [...new Set([...serve, ...redirects.map((r) => r.from)])];
}

/** The snapshot a website.apply message carries. */
export function websiteSnapshot(site: WebsiteRow, key: string, tenant: string | null): Static<typeof WebsiteSpec> {
  const { serve, redirects } = namesOf(site.spec);
  return {
    id: site.id,
    key,
    generation: site.generation,
    owner: tenant ? `up-${tenant}` : null,
    serverNames: [site.temp_domain, ...serve.filter((d) => d !== site.temp_domain)],
    static: site.spec.static,
    routes: site.spec.routes,
    maxBodySize: site.spec.maxBodySize,
    basicAuth: site.spec.basicAuth,
    errorPages: site.spec.errorPages,
    headers: site.spec.headers,
    redirects,
    httpsRedirect: site.spec.httpsRedirect,
    tls: site.tls,
  };
}

/** `<site>-<user>`: unambiguous because user names have no hyphen. */
export const siteKey = (site: string, user: string) => `${site}-${user.replace(/_/g, '-')}`;

/** Names already claimed by someone else's site (or another site of the same user). */
export async function conflictingClaims(db: Knex, names: string[], exceptWebsiteId: string | null): Promise<string[]> {
  if (names.length === 0) return [];
  const query = db('website_domains').whereIn('domain', names);
  if (exceptWebsiteId) query.whereNot('website_id', exceptWebsiteId);
  return (await query.select('domain')).map((r: { domain: string }) => r.domain);
}

export async function replaceClaims(trx: Knex, site: { id: string; owner_id: string }, names: string[]): Promise<void> {
  await trx('website_domains').where({ website_id: site.id }).delete();
  if (names.length) await trx('website_domains').insert(names.map((domain) => ({ domain, website_id: site.id, owner_id: site.owner_id })));
}

export async function wildcardDomains(db: Knex): Promise<string[]> {
  return (await db('proxy_groups').select('wildcard_domain')).map((r: { wildcard_domain: string }) => r.wildcard_domain);
}

/**
 * Where uploaded site archives live, named by their sha256. Gateway and handlers must see the
 * same directory: the same machine (embedded), or a shared volume when handlers run elsewhere.
 */
export function contentStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.UP_CONTENT_DIR?.trim() || join(loadConfig(env).dataDir, 'content');
}

/** Observer of website.apply/delete: what generation each host now serves (or why not). */
export async function websiteHostObserved(db: Knex, job: { payload: unknown }, event: ResultEvent): Promise<void> {
  const p = job.payload as { host?: { name?: string }; site?: { id?: string; generation?: number } } | null;
  if (!p?.host?.name || !p.site?.id) return;
  if (!(await db('websites').where({ id: p.site.id }).first('id'))) return; // deleted since
  const row =
    event.status === 'succeeded'
      ? { applied_generation: p.site.generation ?? null, last_error: null }
      : event.status === 'superseded'
        ? null
        : { last_error: event.error?.message ?? event.status };
  if (!row) return;
  await db('website_hosts')
    .insert({ website_id: p.site.id, host: p.host.name, ...row, updated_at: event.at })
    .onConflict(['website_id', 'host'])
    .merge({ ...row, updated_at: event.at });
}

/** Observer of proxy.apply: the generation each member converged to. */
export async function proxyMemberObserved(db: Knex, job: { payload: unknown }, event: ResultEvent): Promise<void> {
  const p = job.payload as { host?: { name?: string }; layout?: { group?: string }; generation?: number } | null;
  if (!p?.host?.name || !p.layout?.group) return;
  const group = await getProxy(db, p.layout.group);
  const host = await db('hosts').where({ name: p.host.name }).first('id');
  if (!group || !host) return;
  const update =
    event.status === 'succeeded'
      ? { applied_generation: p.generation ?? null, last_error: null, updated_at: event.at }
      : event.status === 'superseded'
        ? null
        : { last_error: event.error?.message ?? event.status, updated_at: event.at };
  if (update) await db('proxy_members').where({ group_id: group.id, host_id: host.id }).update(update);
}
