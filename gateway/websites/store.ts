/**
 * Websites in the database, the names they claim, and the snapshots their messages carry.
 * Routes and observers read and write through here; handlers never do.
 */
import type { Knex } from 'knex';
import type { Static } from 'typebox';
import type { WebsiteSpec } from '../../queues/websites/ops.ts';
import { hostingZone } from '../dns/managed-store.ts';
import type { ContainerUpstream } from '../../lib/validate/web.ts';

/** The stored, normalized spec of a site (domains in punycode, password hashes only). */
export interface StoredSpec {
  domains: string[];
  static: boolean;
  /** `upstream`: a canonical ip:port, or one of the owner's containers by name and container port. */
  routes: { path: string; upstream: string | ContainerUpstream; websocket: boolean }[];
  /** Paths nginx serves from the document root under a routed path (absent in specs stored before them). */
  staticPaths?: string[];
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
  /** The archive the site serves (its sha256 in the content store, gzip bytes); null before the first upload. */
  content_sha256?: string | null;
  content_bytes?: string | number | null;
  created_at: Date;
  updated_at: Date;
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
    ...(site.spec.staticPaths?.length ? { staticPaths: site.spec.staticPaths } : {}),
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

/**
 * Names `names` (for a site of `ownerId`) cannot have: `taken` are claimed exactly by another
 * site (any owner's: a name has one site); `nested` lie under or above a name another user's
 * site claims (login.www.alice.test and alice.test while alice has www.alice.test), or above a
 * DNS zone another user hosts here. A name inside a zone hosted here belongs to the zone's
 * owner whatever is claimed above it: web-dns.ts refuses it for anyone else, saying which zone.
 */
export async function claimConflicts(
  db: Knex,
  names: string[],
  ownerId: string,
  exceptWebsiteId: string | null,
): Promise<{ taken: string[]; nested: string[] }> {
  if (names.length === 0) return { taken: [], nested: [] };
  const exact = db('website_domains').whereIn('domain', names);
  if (exceptWebsiteId) exact.whereNot('website_id', exceptWebsiteId);
  const taken = new Set<string>((await exact.select('domain')).map((r: { domain: string }) => r.domain));
  // What the site already claims stays its own (first come), whatever came nearby since.
  const kept = new Set<string>(
    exceptWebsiteId
      ? (await db('website_domains').where({ website_id: exceptWebsiteId }).select('domain')).map((r: { domain: string }) => r.domain)
      : [],
  );
  const nested: string[] = [];
  for (const name of names.filter((n) => !taken.has(n) && !kept.has(n))) {
    const below = `${reversed(`.${name}`)}%`;
    const zone = await hostingZone(db, name);
    const above = zone && zone.status !== 'deleting' ? [] : ancestorsOf(name);
    const site = await db('website_domains')
      .whereNot('owner_id', ownerId)
      .where((q) => q.whereIn('domain', above).orWhereRaw('reverse(domain) like ?', [below]))
      .first('domain');
    const zoneBelow = await db('dns_zones').whereNot('owner_id', ownerId).whereRaw('reverse(name) like ?', [below]).first('name');
    if (site || zoneBelow) nested.push(name);
  }
  return { taken: [...taken], nested };
}

/** `a.b.example.com` → `b.example.com`, `example.com` (a top-level label is no site's). */
function ancestorsOf(name: string): string[] {
  const labels = name.split('.');
  return labels.slice(1, -1).map((_, i) => labels.slice(i + 1).join('.'));
}

const reversed = (text: string) => [...text].reverse().join('');

export async function replaceClaims(trx: Knex, site: { id: string; owner_id: string }, names: string[]): Promise<void> {
  await trx('website_domains').where({ website_id: site.id }).delete();
  if (names.length) await trx('website_domains').insert(names.map((domain) => ({ domain, website_id: site.id, owner_id: site.owner_id })));
}
