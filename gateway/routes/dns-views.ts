import type { DnsRecordRow, DnsServerRow, DnsZoneRow } from '../../lib/db/dns.ts';
import type { Manager } from '../../lib/db/dns-managed.ts';
import { relativeName } from '../../lib/dns/validate.ts';

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export function serverView(row: DnsServerRow) {
  return {
    name: row.name,
    primary: row.primary_host,
    address: row.address,
    port: row.port,
    rndcConf: row.rndc_conf,
    zoneDir: row.zone_dir,
    keyName: row.key_name,
    algorithm: row.algorithm,
    nameserver: row.nameserver,
    secondaries: row.secondaries,
    createdAt: iso(row.created_at)!,
  };
}

export function zoneView(row: DnsZoneRow, serverName: string) {
  return {
    name: row.name,
    server: serverName,
    ownerId: row.owner_id,
    status: row.status,
    statusMessage: row.status_message,
    serial: row.serial === null ? null : Number(row.serial),
    appliedAt: iso(row.applied_at),
    verifiedAt: iso(row.verified_at),
    lastJobId: row.last_job_id,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}

export function recordView(row: DnsRecordRow, zone: string, managedBy: Manager | null = null) {
  return {
    id: row.id,
    zone,
    name: relativeName(row.name, zone),
    fqdn: row.name,
    type: row.type,
    ttl: row.ttl,
    rdata: row.value,
    ...row.data,
    managedBy,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}
