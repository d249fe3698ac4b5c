/**
 * Certificates in the database: what each covers, how it is validated, and what the last
 * issuance said. Routes, the observer and the renewal schedule read and write through here.
 */
import type { Knex } from 'knex';
import type { TsigAlgorithm } from '../../lib/dns/tsig.ts';
import { isUnderDomain } from '../../lib/validate/web.ts';

export type CertKind = 'site' | 'wildcard' | 'service';
export type CertStatus = 'pending' | 'valid' | 'failed' | 'renewing';
export type Challenge = 'http-01' | 'dns-01';

export interface CertificateRow {
  id: string;
  owner_id: string | null;
  kind: CertKind;
  name: string;
  website_id: string | null;
  proxy_group_id: string | null;
  host_id: string | null;
  names: string[];
  challenge: Challenge;
  status: CertStatus;
  not_before: Date | null;
  not_after: Date | null;
  issuer: string | null;
  serial: string | null;
  fingerprint: string | null;
  last_error: string | null;
  last_attempt_at: Date | null;
  failures: number;
  last_job_id: string | null;
  created_at: Date;
  updated_at: Date;
}

/** The RFC 2136 server of a hosted zone (the key's secret is the handler's, by name). */
export interface ZoneServer {
  serverId: string;
  zone: string;
  address: string;
  port: number;
  keyName: string;
  algorithm: TsigAlgorithm;
}

/** The hosted zone (longest match) that contains a name, or null when no zone of ours does. */
export async function zoneServerFor(db: Knex, name: string): Promise<ZoneServer | null> {
  const bare = name.replace(/^\*\./, '');
  const candidates = bare.split('.').map((_, i, labels) => labels.slice(i).join('.'));
  const rows: { zone: string; server_id: string; address: string; port: number; key_name: string; algorithm: TsigAlgorithm }[] = await db(
    'dns_zones as z',
  )
    .join('dns_servers as s', 's.id', 'z.server_id')
    .whereIn('z.name', candidates)
    .whereNot('z.status', 'deleting')
    .select('z.name as zone', 'z.server_id', 's.address', 's.port', 's.key_name', 's.algorithm');
  const best = rows.filter((r) => isUnderDomain(bare, r.zone)).sort((a, b) => b.zone.length - a.zone.length)[0];
  return best
    ? {
        serverId: best.server_id,
        zone: best.zone,
        address: best.address,
        port: best.port,
        keyName: best.key_name,
        algorithm: best.algorithm,
      }
    : null;
}

/** DNS-01 when every name lives in zones of one server of ours; otherwise null (HTTP-01). */
export async function dnsChallengeServer(db: Knex, names: string[]): Promise<ZoneServer | null> {
  const servers = await Promise.all(names.map((n) => zoneServerFor(db, n)));
  const first = servers[0];
  if (!first || servers.some((s) => s === null || s.serverId !== first.serverId)) return null;
  return first;
}

export const getCertificate = (db: Knex, id: string): Promise<CertificateRow | undefined> => db('certificates').where({ id }).first();

/** Creates or updates the certificate row for a site or a wildcard (one per each); returns it. */
export async function upsertCertificate(
  trx: Knex,
  row: Pick<CertificateRow, 'kind' | 'name' | 'owner_id' | 'website_id' | 'proxy_group_id' | 'names' | 'challenge'>,
): Promise<CertificateRow> {
  const where = row.kind === 'site' ? { website_id: row.website_id } : { kind: row.kind, proxy_group_id: row.proxy_group_id };
  const existing: CertificateRow | undefined = await trx('certificates').where(where).forUpdate().first();
  const fields = { name: row.name, names: JSON.stringify(row.names), challenge: row.challenge, updated_at: trx.fn.now() };
  if (existing) {
    const [updated] = await trx('certificates').where({ id: existing.id }).update(fields).returning('*');
    return updated;
  }
  const [created] = await trx('certificates')
    .insert({
      id: crypto.randomUUID(),
      kind: row.kind,
      owner_id: row.owner_id,
      website_id: row.website_id,
      proxy_group_id: row.proxy_group_id,
      ...fields,
    })
    .returning('*');
  return created;
}

/** A job was published for it: the row says so (the observer only listens to the latest job). */
export async function markAttempt(trx: Knex, id: string, jobId: string, status: CertStatus): Promise<void> {
  await trx('certificates').where({ id }).update({ last_job_id: jobId, status, last_attempt_at: trx.fn.now(), updated_at: trx.fn.now() });
}
