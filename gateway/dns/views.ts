import type { DnsRecordRow, DnsServerRow, DnsZoneRow } from './store.ts';
import type { Manager } from './managed-store.ts';
import { relativeName } from '../../lib/dns/validate.ts';
import { redactor } from '../redact.ts';
import type { Viewer } from '../views.ts';

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

/**
 * A zone as `viewer` sees it. Its status message quotes the failed job's error, written for the
 * admin: users read it without the server's address, key name and directories.
 */
export function zoneView(row: DnsZoneRow, server: DnsServerRow | undefined, viewer: Viewer) {
  const { address, port, key_name, rndc_conf, zone_dir } = server ?? {};
  const message =
    row.status_message === null || viewer.role === 'admin'
      ? row.status_message
      : redactor({ address, port, key_name, rndc_conf, zone_dir }, { zone: row.name })(row.status_message);
  return {
    name: row.name,
    server: server?.name ?? '?',
    ownerId: row.owner_id,
    status: row.status,
    statusMessage: message,
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
