/** What DNS jobs carry: snapshots of the server (never its secret) and of the records, taken at submit time. */
import { posix } from 'node:path';
import type { Knex } from 'knex';
import type { DnsServerRow, DnsZoneRow, DnsRecordRow } from './store.ts';
import { getServerById, specOf, zoneRecords } from './store.ts';
import { getHostByName, hostRefOf, type HostRow } from '../hosts/store.ts';
import {
  dnsRecordsApply,
  dnsServerSetup,
  dnsZoneVerify,
  type BindSetup,
  type DnsEndpoint,
  type RecordChange,
  type RecordSpecMessage,
  type ZoneServer,
} from '../../queues/dns/ops.ts';
import { conflict } from '../plugins/errors.ts';
import { plan, type JobPlan } from '../plan.ts';

/**
 * What host.prepare needs to set BIND up on a `dns` host: the server that names it its primary
 * (its config directory is the one of its rndc.conf). None: the packages only.
 */
/**
 * The set-up of the `dns` role on a host: BIND as the DNS server that names the host its
 * primary wants it (up's named.conf in the directory of its rndc.conf, the TSIG key, rndc,
 * the zone directory); none while no server names the host.
 */
export async function bindSetupOf(db: Knex, host: HostRow): Promise<JobPlan | null> {
  const server: DnsServerRow | undefined = await db('dns_servers').where({ primary_host: host.name }).orderBy('name').first();
  if (!server) return null;
  const bind: BindSetup = {
    configDir: posix.dirname(server.rndc_conf),
    rndcConf: server.rndc_conf,
    zoneDir: server.zone_dir,
    keyName: server.key_name,
    algorithm: server.algorithm as BindSetup['algorithm'],
    port: server.port,
    secondaries: server.secondaries,
  };
  return plan({ op: dnsServerSetup, payload: { host: await hostRefOf(db, host), bind }, target: host.name });
}

export function nameserverOf(server: DnsServerRow, zone: string): string {
  return server.nameserver ?? `ns1.${zone}`;
}

export function endpointOf(server: DnsServerRow): DnsEndpoint {
  return { address: server.address, port: server.port, keyName: server.key_name, algorithm: server.algorithm as DnsEndpoint['algorithm'] };
}

export async function zoneServerOf(db: Knex, server: DnsServerRow, zone: string): Promise<ZoneServer> {
  const host = await getHostByName(db, server.primary_host);
  if (!host) throw conflict(`the primary host ${server.primary_host} of DNS server ${server.name} no longer exists`);
  return {
    ...endpointOf(server),
    name: server.name,
    primary: await hostRefOf(db, host),
    rndcConf: server.rndc_conf,
    zoneDir: server.zone_dir,
    nameserver: nameserverOf(server, zone),
  };
}

export async function serverOfZone(db: Knex, zone: DnsZoneRow): Promise<DnsServerRow> {
  const server = await getServerById(db, zone.server_id);
  if (!server) throw conflict(`the DNS server of zone ${zone.name} no longer exists`);
  return server;
}

export function recordMessage(row: Pick<DnsRecordRow, 'name' | 'type' | 'ttl' | 'data'>): RecordSpecMessage {
  return specOf(row) as RecordSpecMessage;
}

/**
 * The dns.records.apply job for changes to one zone, and the write that ties the zone to it:
 * the records routes and the records kept for websites and proxy groups submit through here.
 */
export async function recordsApplyJob(db: Knex, zone: DnsZoneRow, changes: RecordChange[]) {
  const server = await serverOfZone(db, zone);
  return plan({
    op: dnsRecordsApply,
    payload: { zone: zone.name, server: endpointOf(server), changes },
    target: zone.name,
    resourceId: zone.id,
    alsoInTransaction: async (trx: Knex.Transaction, jobId: string) => {
      await trx('dns_zones').where({ id: zone.id }).update({ last_job_id: jobId, updated_at: trx.fn.now() });
    },
  });
}

/** What dns.zone.verify and its check compare: the zone's server and its records as PostgreSQL has them now. */
export async function zoneComparison(db: Knex, zone: DnsZoneRow) {
  const server = await serverOfZone(db, zone);
  const expected = (await zoneRecords(db, zone.id)).map(recordMessage);
  return { zone: zone.name, server: { ...endpointOf(server), nameserver: nameserverOf(server, zone.name) }, expected };
}

/** dns.zone.verify of a zone against its records as PostgreSQL has them now. */
export async function verifyJob(db: Knex, zone: DnsZoneRow, repair: boolean) {
  return plan({ op: dnsZoneVerify, payload: { ...(await zoneComparison(db, zone)), repair }, target: zone.name, resourceId: zone.id });
}
