/**
 * DNS that follows websites, proxy groups and mail domains: a site's domains that fall in a zone
 * its owner hosts here, and a group's wildcard domain in an admin's zone, get A/AAAA records to
 * the group's public addresses; a mail domain in its owner's zone gets its MX, SPF and DMARC. They are dns_records rows marked with their site or group (managed-store.ts),
 * written in the caller's transaction and applied by the records' own dns.records.apply job.
 * Zones not hosted here are left alone: their owner points the names themselves.
 */
import { isIPv6 } from 'node:net';
import type { Knex } from 'knex';
import { recordRow, specOf, type DnsRecordRow, type DnsZoneRow } from './store.ts';
import { describeManager, hostingZone, managedRecords, managersOf, recordManagers, type ManagedBy } from './managed-store.ts';
import type { WantedRecords } from '../domain.ts';
import { claimedNames, type WebsiteRow } from '../websites/store.ts';
import type { ProxyGroupRow } from '../proxies/store.ts';
import { isUnderDomain } from '../../lib/validate/web.ts';
import { presentValue, validateRecord, type RecordInput, type RecordSpec } from '../../lib/dns/validate.ts';
import type { RecordChange, RecordSpecMessage } from '../../queues/dns/ops.ts';
import { conflict } from '../plugins/errors.ts';
import { recordMessage, recordsApplyJob } from './plans.ts';
import type { JobPlan } from '../plan.ts';

/** Short enough that moving a site to another proxy group is seen soon. */
export const MANAGED_TTL = 300;

/** Types that cannot sit next to a managed record of a type at one name without changing what it says. */
const CLASHING_TYPES: Record<string, string[]> = { A: ['A', 'AAAA', 'CNAME'], AAAA: ['A', 'AAAA', 'CNAME'], MX: ['MX', 'CNAME'] };
const clashingTypes = (type: string) => CLASHING_TYPES[type] ?? ['CNAME'];

/** A record a resource keeps: its absolute name (no trailing dot) and the rest of its input. */
export type ManagedRecord = { name: string } & Omit<RecordInput, 'name' | 'ttl'>;

/** A/AAAA for each name to each address. */
const addressRecords = (names: readonly string[], addresses: readonly string[]): ManagedRecord[] =>
  names.flatMap((name) => addresses.map((address) => ({ name, type: isIPv6(address) ? 'AAAA' : 'A', address })));

interface Managed {
  by: ManagedBy;
  /** What the conflict messages call the names' owner. */
  label: string;
  records: ManagedRecord[];
  generation: number;
  /** Whether the zone's owner may have records for `by` (else: 409). */
  mayUse(zone: DnsZoneRow): Promise<boolean>;
  refusal(name: string, zone: DnsZoneRow): string;
}

/** A site's records, created or replaced to match its domains and its group's addresses. */
export function siteRecordJobs(trx: Knex, site: WebsiteRow, group: ProxyGroupRow): Promise<JobPlan[]> {
  return syncManaged(trx, {
    by: { manager_kind: 'website', manager_id: site.id },
    label: `website ${site.name}`,
    records: addressRecords(
      claimedNames(site.spec).filter((name) => name !== site.temp_domain),
      group.addresses,
    ),
    generation: site.generation,
    mayUse: async (zone) => zone.owner_id === site.owner_id,
    refusal: (name, zone) => `${name} lies in DNS zone ${zone.name}, which another user hosts here`,
  });
}

/** Removes a site's records; call before the site row goes (its rows cascade with it). */
export function removeSiteRecordJobs(trx: Knex, site: WebsiteRow): Promise<JobPlan[]> {
  return syncManaged(trx, {
    by: { manager_kind: 'website', manager_id: site.id },
    label: `website ${site.name}`,
    records: [],
    generation: site.generation + 1,
    mayUse: async () => true,
    refusal: () => '',
  });
}

/** `<wildcard>` and `*.<wildcard>` to the group's addresses, when an admin's zone here holds the wildcard domain. */
export function proxyRecordJobs(trx: Knex, group: ProxyGroupRow): Promise<JobPlan[]> {
  return syncManaged(trx, {
    by: { manager_kind: 'proxy', manager_id: group.id },
    label: `proxy group ${group.name}`,
    records: addressRecords([group.wildcard_domain, `*.${group.wildcard_domain}`], group.addresses),
    generation: group.generation,
    mayUse: async (zone) => (await trx('users').where({ id: zone.owner_id }).first('role'))?.role === 'admin',
    refusal: (name, zone) => `${name} lies in DNS zone ${zone.name}, which a user (not an admin) hosts here`,
  });
}

/** Removes a proxy group's wildcard records; call before the group row goes. */
export function removeProxyRecordJobs(trx: Knex, group: ProxyGroupRow): Promise<JobPlan[]> {
  return syncManaged(trx, {
    by: { manager_kind: 'proxy', manager_id: group.id },
    label: `proxy group ${group.name}`,
    records: [],
    generation: group.generation + 1,
    mayUse: async () => true,
    refusal: () => '',
  });
}

/** A mail domain's records (MX, SPF, DMARC), when its zone is its owner's here. */
export function mailDomainRecordJobs(
  trx: Knex,
  domain: { id: string; name: string; owner_id: string; generation: number },
  records: ManagedRecord[],
): Promise<JobPlan[]> {
  return syncManaged(trx, {
    by: { manager_kind: 'mail-domain', manager_id: domain.id },
    label: `mail domain ${domain.name}`,
    records,
    generation: domain.generation,
    mayUse: async (zone) => zone.owner_id === domain.owner_id,
    refusal: (name, zone) => `${name} lies in DNS zone ${zone.name}, which another user hosts here`,
  });
}

/** Removes a mail domain's records; call before its row goes. */
export function removeMailDomainRecordJobs(trx: Knex, domain: { id: string; name: string; generation: number }): Promise<JobPlan[]> {
  return syncManaged(trx, {
    by: { manager_kind: 'mail-domain', manager_id: domain.id },
    label: `mail domain ${domain.name}`,
    records: [],
    generation: domain.generation + 1,
    mayUse: async () => true,
    refusal: () => '',
  });
}

/** Whether `name` lies in a zone its owner hosts here: up keeps its records there. */
export async function inOwnZone(db: Knex, name: string, ownerId: string): Promise<boolean> {
  const zone = await hostingZone(db, name);
  return Boolean(zone && zone.owner_id === ownerId && zone.status !== 'deleting');
}

/**
 * A zone created after the resources whose names it holds: their records, to go into the new
 * zone's first file (dns.zone.create) and in as managed rows (`write`, with the zone row). Every
 * kind of manager says what its resources want in the zone owner's zones (`wanted`); a name that
 * already has a more specific zone here stays there.
 */
export async function adoptedRecords(
  db: Knex,
  zone: string,
  ownerId: string,
): Promise<{ specs: RecordSpec[]; write(trx: Knex, zoneId: string): Promise<void> }> {
  const owner = { id: ownerId, admin: (await db('users').where({ id: ownerId }).first('role'))?.role === 'admin' };
  const rows: { spec: RecordSpec; by: ManagedBy }[] = [];
  for (const manager of (await recordManagers()).values()) {
    for (const { by, records } of await manager.wanted(db, owner)) {
      for (const { name, ...rest } of records) {
        if (!isUnderDomain(name, zone) || ((await hostingZone(db, name))?.name.length ?? 0) > zone.length) continue;
        rows.push({ spec: validateRecord({ ...rest, name: `${name}.`, ttl: MANAGED_TTL }, zone, 'body/name'), by });
      }
    }
  }
  return {
    specs: rows.map((r) => r.spec),
    async write(trx, zoneId) {
      if (rows.length) await trx('dns_records').insert(rows.map((r) => recordRow(zoneId, r.spec, presentValue(r.spec), r.by)));
    },
  };
}

/**
 * A new zone's first file takes addresses only (dns.zone.create renders nothing else into BIND
 * syntax); the zone's other adopted records (a mail domain's MX and TXT) follow it in an UPDATE
 * once it is loaded (the zone-create observer).
 */
export const inFirstZoneFile = (record: { type: string }) => record.type === 'A' || record.type === 'AAAA';

/** What the owner's sites keep: their domains (not the temporary one) to their group's addresses. */
export async function wantedSiteRecords(db: Knex, owner: { id: string }): Promise<WantedRecords[]> {
  const sites: (WebsiteRow & { addresses: string[] })[] = await db('websites as w')
    .join('proxy_groups as g', 'g.id', 'w.proxy_group_id')
    .where('w.owner_id', owner.id)
    .select('w.*', 'g.addresses');
  return sites.map((site) => ({
    by: { manager_kind: 'website', manager_id: site.id },
    records: addressRecords(
      claimedNames(site.spec).filter((n) => n !== site.temp_domain),
      site.addresses,
    ),
  }));
}

/** What the proxy groups keep, in an admin's zones only: their wildcard domains. */
export async function wantedProxyRecords(db: Knex, owner: { admin: boolean }): Promise<WantedRecords[]> {
  if (!owner.admin) return [];
  const groups: ProxyGroupRow[] = await db('proxy_groups');
  return groups.map((group) => ({
    by: { manager_kind: 'proxy', manager_id: group.id },
    records: addressRecords([group.wildcard_domain, `*.${group.wildcard_domain}`], group.addresses),
  }));
}

/** Converges the rows of `m.by` to the wanted set; one dns.records.apply job per zone that changes. */
async function syncManaged(trx: Knex, m: Managed): Promise<JobPlan[]> {
  const wanted = await wantedRecords(trx, m);
  const current = await managedRecords(trx, m.by);
  const zoneIds = new Set([...wanted.keys(), ...current.map((r) => r.zone_id)]);
  const jobs: JobPlan[] = [];
  for (const zoneId of zoneIds) {
    const zone: DnsZoneRow = wanted.get(zoneId)?.zone ?? (await trx('dns_zones').where({ id: zoneId }).first());
    const specs = wanted.get(zoneId)?.specs ?? [];
    const wantedKeys = new Set(specs.map(keyOfSpec));
    const currentRows = current.filter((r) => r.zone_id === zoneId);
    const currentKeys = new Set(currentRows.map(keyOfRow));
    const removed = currentRows.filter((r) => !wantedKeys.has(keyOfRow(r)));
    const added = specs.filter((s) => !currentKeys.has(keyOfSpec(s)));
    if (removed.length === 0 && added.length === 0) continue;
    if (removed.length)
      await trx('dns_records')
        .whereIn(
          'id',
          removed.map((r) => r.id),
        )
        .delete();
    if (added.length) await trx('dns_records').insert(added.map((s) => recordRow(zoneId, s, presentValue(s), m.by)));
    // A zone on its way out takes its records with it: nothing to send.
    if (zone.status === 'deleting') continue;
    const changes: RecordChange[] = [
      ...removed.map((row) => ({ op: 'delete' as const, record: recordMessage(row) })),
      ...added.map((spec) => ({ op: 'add' as const, record: spec as RecordSpecMessage })),
    ];
    jobs.push({ ...(await recordsApplyJob(trx, zone, changes)), generation: m.generation });
  }
  return jobs;
}

/** The records `m` should have, by zone; refuses names in a zone it may not use or taken by other records. */
async function wantedRecords(trx: Knex, m: Managed): Promise<Map<string, { zone: DnsZoneRow; specs: RecordSpec[] }>> {
  const wanted = new Map<string, { zone: DnsZoneRow; specs: RecordSpec[] }>();
  for (const { name, ...rest } of m.records) {
    const zone = await hostingZone(trx, name);
    if (!zone || zone.status === 'deleting') continue;
    if (!(await m.mayUse(zone))) throw conflict(m.refusal(name, zone));
    if (zone.status === 'pending')
      throw conflict(`DNS zone ${zone.name} (for ${name}) is still being created; try again when it is active`);
    await refuseTakenName(trx, m, zone, name, rest.type);
    const entry = wanted.get(zone.id) ?? { zone, specs: [] };
    entry.specs.push(validateRecord({ ...rest, name: `${name}.`, ttl: MANAGED_TTL }, zone.name, 'body/domains'));
    wanted.set(zone.id, entry);
  }
  return wanted;
}

async function refuseTakenName(trx: Knex, m: Managed, zone: DnsZoneRow, name: string, type: string): Promise<void> {
  const mine = (row: DnsRecordRow) => row.manager_kind === m.by.manager_kind && row.manager_id === m.by.manager_id;
  const rows: DnsRecordRow[] = await trx('dns_records').where({ zone_id: zone.id, name }).whereIn('type', clashingTypes(type));
  const taken = rows.find((row) => !mine(row));
  if (!taken) return;
  const manager = (await managersOf(trx, [taken])).get(taken.id);
  const whose = manager ? `kept for ${await describeManager(manager)}` : 'a record of the zone';
  throw conflict(
    `${name} already has a ${taken.type} record (${taken.value}, ${whose}) in DNS zone ${zone.name}; ${m.label} cannot keep its ${type} record there`,
  );
}

const keyOfSpec = (spec: RecordSpec) => `${spec.name} ${spec.type} ${presentValue(spec)}`;
const keyOfRow = (row: DnsRecordRow) => keyOfSpec(specOf(row));
