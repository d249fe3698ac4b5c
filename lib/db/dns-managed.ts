/**
 * Records that up keeps on a user's behalf: a website's domains in its owner's zone, a proxy
 * group's wildcard domain in the admin's zone. They are dns_records rows like any other (the
 * zone's truth stays in one table), marked with the site or group they follow.
 */
import type { Knex } from 'knex';
import type { DnsRecordRow, DnsZoneRow } from './dns.ts';

/** What a managed record follows: exactly one of the two columns. */
export type ManagedBy = { website_id: string } | { proxy_group_id: string };

export interface Manager {
  kind: 'website' | 'proxy';
  name: string;
}

/** The zone hosted here that holds `name`: the longest zone name that is `name` or one of its parents. */
export async function hostingZone(db: Knex, name: string): Promise<DnsZoneRow | undefined> {
  const labels = name.split('.');
  const candidates = labels.slice(0, -1).map((_, i) => labels.slice(i).join('.'));
  const zones: DnsZoneRow[] = await db('dns_zones').whereIn('name', candidates);
  return zones.sort((a, b) => b.name.length - a.name.length)[0];
}

export function managedRecords(db: Knex, by: ManagedBy): Promise<DnsRecordRow[]> {
  return db('dns_records').where(by).orderBy([{ column: 'name' }, { column: 'type' }, { column: 'value' }]);
}

/** Who keeps each managed row of `rows` (by row id); the user's own rows are absent. */
export async function managersOf(db: Knex, rows: readonly Pick<DnsRecordRow, 'id' | 'website_id' | 'proxy_group_id'>[]): Promise<Map<string, Manager>> {
  const siteIds = [...new Set(rows.flatMap((r) => (r.website_id ? [r.website_id] : [])))];
  const groupIds = [...new Set(rows.flatMap((r) => (r.proxy_group_id ? [r.proxy_group_id] : [])))];
  const sites = new Map<string, string>(
    siteIds.length ? (await db('websites').whereIn('id', siteIds).select('id', 'name')).map((s: { id: string; name: string }) => [s.id, s.name]) : [],
  );
  const groups = new Map<string, string>(
    groupIds.length ? (await db('proxy_groups').whereIn('id', groupIds).select('id', 'name')).map((g: { id: string; name: string }) => [g.id, g.name]) : [],
  );
  const managers = new Map<string, Manager>();
  for (const row of rows) {
    if (row.website_id) managers.set(row.id, { kind: 'website', name: sites.get(row.website_id) ?? row.website_id });
    else if (row.proxy_group_id) managers.set(row.id, { kind: 'proxy', name: groups.get(row.proxy_group_id) ?? row.proxy_group_id });
  }
  return managers;
}

export const describeManager = (m: Manager) => (m.kind === 'website' ? `website ${m.name}` : `proxy group ${m.name}`);
