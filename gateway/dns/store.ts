/** DNS desired state in PostgreSQL: servers, zones (owned by users) and records. */
import type { Knex } from 'knex';
import type { ManagedBy } from './managed-store.ts';
import type { RecordSpec } from '../../lib/dns/validate.ts';
import { newJobId } from '../../lib/ids.ts';

export interface DnsServerRow {
  id: string;
  name: string;
  primary_host: string;
  address: string;
  port: number;
  rndc_conf: string;
  zone_dir: string;
  key_name: string;
  algorithm: string;
  nameserver: string | null;
  secondaries: string[];
  created_at: Date;
  updated_at: Date;
}

export type ZoneStatus = 'pending' | 'active' | 'error' | 'deleting';

export interface DnsZoneRow {
  id: string;
  name: string;
  owner_id: string;
  server_id: string;
  status: ZoneStatus;
  status_message: string | null;
  serial: string | number | null;
  applied_at: Date | null;
  verified_at: Date | null;
  last_job_id: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface DnsRecordRow {
  id: string;
  zone_id: string;
  name: string;
  type: RecordSpec['type'];
  ttl: number;
  data: Omit<RecordSpec, 'name' | 'type' | 'ttl'>;
  value: string;
  /** Set when up keeps the record for a resource (a website's domains, a proxy group's wildcard): managed-store.ts. */
  manager_kind: string | null;
  manager_id: string | null;
  created_at: Date;
  updated_at: Date;
}

export const newId = newJobId;

export function listServers(db: Knex): Promise<DnsServerRow[]> {
  return db('dns_servers').orderBy('name');
}

export function getServerByName(db: Knex, name: string): Promise<DnsServerRow | undefined> {
  return db('dns_servers').where({ name }).first();
}

export function getServerById(db: Knex, id: string): Promise<DnsServerRow | undefined> {
  return db('dns_servers').where({ id }).first();
}

/** The zones table, for callers to narrow (scopeToCaller) before reading. */
export const zonesTable = (db: Knex) => db<DnsZoneRow>('dns_zones');

/** Zones that would clash with `name` for another owner: the same name, a parent, or a child. */
export async function clashingZones(db: Knex, name: string): Promise<DnsZoneRow[]> {
  const labels = name.split('.');
  const parents = labels.slice(1, -1).map((_, i) => labels.slice(i + 1).join('.'));
  // Zone names are [a-z0-9.-] only, so nothing in them is a LIKE wildcard.
  return db('dns_zones')
    .whereIn('name', [name, ...parents])
    .orWhere('name', 'like', `%.${name}`);
}

export function zoneRecords(db: Knex, zoneId: string): Promise<DnsRecordRow[]> {
  return db('dns_records')
    .where({ zone_id: zoneId })
    .orderBy([{ column: 'name' }, { column: 'type' }, { column: 'value' }]);
}

export function specOf(row: Pick<DnsRecordRow, 'name' | 'type' | 'ttl' | 'data'>): RecordSpec {
  return { ...row.data, name: row.name, type: row.type, ttl: row.ttl };
}

export function recordRow(zoneId: string, spec: RecordSpec, value: string, managedBy: ManagedBy | Record<string, never> = {}) {
  const { name, type, ttl, ...data } = spec;
  return { id: newId(), zone_id: zoneId, name, type, ttl, data: JSON.stringify(data), value, ...managedBy };
}

export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string }).code === '23505';
}
