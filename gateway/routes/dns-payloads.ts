/** What DNS jobs carry: snapshots of the server (never its secret) and of the records, taken at submit time. */
import type { Knex } from 'knex';
import type { DnsServerRow, DnsZoneRow, DnsRecordRow } from '../../lib/db/dns.ts';
import { getServerById, specOf } from '../../lib/db/dns.ts';
import { getHostByName, hostRefOf } from '../../lib/db/hosts.ts';
import type { DnsEndpoint, RecordSpecMessage, ZoneServer } from '../../queues/ops/dns.ts';
import { conflict } from '../plugins/errors.ts';

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
