/**
 * Certificates in the health rounds: one check per issued certificate per member serving it,
 * repaired by the renew route's own job (cert.renew, the row marked with it).
 */
import type { Knex } from 'knex';
import { getCertificate, type CertificateRow } from '../lib/db/certs.ts';
import type { RepairJob } from '../lib/db/health.ts';
import { splitKey, type MemberTarget } from '../lib/db/health-targets.ts';
import { layoutOf } from '../lib/db/web.ts';
import type { HostRef } from '../queues/host-ref.ts';
import type { CheckResult } from '../queues/ops/health.ts';
import { healthCheckCertificate } from '../queues/ops/health-cert.ts';
import { RENEW_BEFORE_DAYS } from '../schedulers/cert-renewal.ts';
import { certJob } from './routes/web-certs.ts';

export const certificateKey = (certId: string, host: string) => `${certId}@${host}`;

/** The certificate's id in a check's key (`<id>@<host>`), or null. */
export function certificateIdOf(key: string): string | null {
  const id = splitKey(key)?.[0];
  return id && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id) ? id : null;
}

/** Causes a renewal fixes: a fresh certificate, installed on every member and reloaded. */
const RENEWABLE = ['certificate-missing', 'certificate-unreadable', 'certificate-invalid', 'certificate-expiring', 'certificate-mismatch', 'certificate-not-served'];

/** Issued certificates (a serial recorded, whatever became of a later attempt) on each member of the group that serves them. */
export async function certificateChecks(db: Knex, members: MemberTarget[], refOf: (member: MemberTarget['member']) => Promise<HostRef>) {
  const rows: (CertificateRow & { group_id: string | null })[] = await db('certificates as c')
    .leftJoin('websites as w', 'w.id', 'c.website_id')
    .whereNotNull('c.serial')
    .whereNotNull('c.fingerprint')
    .orderBy('c.name')
    .select('c.*', db.raw('coalesce(c.proxy_group_id, w.proxy_group_id) as group_id'));
  const planned = [];
  for (const cert of rows) {
    const serverName = cert.names.find((n) => !n.startsWith('*.')) ?? cert.names[0]?.slice(2);
    if (!serverName) continue;
    for (const { group, member } of members.filter((m) => m.group.id === cert.group_id)) {
      const key = certificateKey(cert.id, member.name);
      const payload = {
        resource: { type: 'certificate', key },
        host: await refOf(member),
        layout: layoutOf(group, member),
        certificate: { id: cert.id, name: cert.name, serverName, serial: cert.serial!, fingerprint: cert.fingerprint!, recordedAt: new Date(cert.updated_at).getTime() },
        renewBeforeDays: RENEW_BEFORE_DAYS,
      };
      planned.push({ op: healthCheckCertificate, payload, target: key });
    }
  }
  return planned;
}

/** Keys the certificate type still has: every member check, and each row's own issuance record (its id). */
export async function certificateKeys(db: Knex, planned: { payload: unknown }[]): Promise<Set<string>> {
  const keys = new Set<string>((await db('certificates').select('id')).map((c: { id: string }) => c.id));
  for (const check of planned) {
    const { type, key } = (check.payload as { resource: { type: string; key: string } }).resource;
    if (type === 'certificate') keys.add(key);
  }
  return keys;
}

/** cert.renew, exactly as POST /v1/certificates/:id/renew plans it (a never-issued row gets cert.issue). */
export async function repairCertificate(db: Knex, check: CheckResult): Promise<RepairJob | null> {
  const id = certificateIdOf(check.resource.key);
  if (!id || !check.problems.some((p) => RENEWABLE.includes(p.cause))) return null;
  const cert = await getCertificate(db, id);
  if (!cert) return null;
  const [job] = await certJob(db, cert, cert.not_after !== null);
  if (!job) return null;
  return { op: job.op, payload: job.payload, target: job.target, generation: job.generation, ownerId: cert.owner_id, alsoInTransaction: job.alsoInTransaction };
}

export async function certificateOwner(db: Knex, key: string): Promise<string | null> {
  const id = certificateIdOf(key);
  return (id && (await getCertificate(db, id))?.owner_id) ?? null;
}
