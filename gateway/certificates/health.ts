/**
 * Certificates in the health rounds: one check per issued certificate per member serving it,
 * repaired by the renew route's own job (cert.renew, the row marked with it).
 */
import type { Knex } from 'knex';
import { getCertificate, type CertificateRow } from './store.ts';
import { plan, type JobPlan } from '../plan.ts';
import type { PayloadOf } from '../../queues/operation.ts';
import { proxyTargets, splitKey } from '../proxies/targets.ts';
import { layoutOf } from '../proxies/store.ts';
import type { CheckKind, CheckRound } from '../domain.ts';
import { FAIL_AFTER, ON_PROXY, REPAIR_AFTER } from '../health/policy.ts';
import type { CheckResult } from '../../queues/health/checks.ts';
import { healthCheckCertificate } from '../../queues/certificates/health.ts';
import { RENEW_BEFORE_DAYS } from './renewal.ts';
import { certJob } from './plans.ts';
import { isUuid } from '../../lib/ids.ts';

export const certificateKey = (certId: string, host: string) => `${certId}@${host}`;

/** The certificate's id in a check's key (`<id>@<host>`), or null. */
export function certificateIdOf(key: string): string | null {
  const id = splitKey(key)?.[0];
  return isUuid(id) ? id : null;
}

/** Causes a renewal fixes: a fresh certificate, installed on every member and reloaded. */
const RENEWABLE = [
  'certificate-missing',
  'certificate-unreadable',
  'certificate-invalid',
  'certificate-expiring',
  'certificate-mismatch',
  'certificate-not-served',
];

/** Issued certificates (a serial recorded, whatever became of a later attempt) on each member of the group that serves them. */
async function planChecks(db: Knex, round: CheckRound): Promise<JobPlan[]> {
  const members = await proxyTargets(db);
  const rows: (CertificateRow & { group_id: string | null })[] = await db('certificates as c')
    .leftJoin('websites as w', 'w.id', 'c.website_id')
    .whereNotNull('c.serial')
    .whereNotNull('c.fingerprint')
    .orderBy('c.name')
    .select('c.*', db.raw('coalesce(c.proxy_group_id, w.proxy_group_id) as group_id'));
  const planned: JobPlan[] = [];
  for (const cert of rows) {
    const serverName = cert.names.find((n) => !n.startsWith('*.')) ?? cert.names[0]?.slice(2);
    if (!serverName) continue;
    for (const { group, member } of members.filter((m) => m.group.id === cert.group_id)) {
      const key = certificateKey(cert.id, member.name);
      const payload: PayloadOf<typeof healthCheckCertificate> = {
        resource: { type: 'certificate', key },
        host: await round.refOf(member),
        layout: layoutOf(group, member),
        certificate: {
          id: cert.id,
          name: cert.name,
          serverName,
          serial: cert.serial!,
          fingerprint: cert.fingerprint!,
          recordedAt: new Date(cert.updated_at).getTime(),
        },
        renewBeforeDays: RENEW_BEFORE_DAYS,
      };
      planned.push(plan({ op: healthCheckCertificate, payload, target: key }));
    }
  }
  return planned;
}

/** Keys the certificate type still has: every member check, and each row's own issuance record (its id). */
async function certificateKeys(db: Knex, planned: readonly JobPlan[]): Promise<Set<string>> {
  const keys = new Set<string>((await db('certificates').select('id')).map((c: { id: string }) => c.id));
  for (const check of planned) {
    const { type, key } = (check.payload as { resource: { type: string; key: string } }).resource;
    if (type === 'certificate') keys.add(key);
  }
  return keys;
}

/** cert.renew, exactly as POST /v1/certificates/:id/renew plans it (a never-issued row gets cert.issue). */
async function repairCertificate(db: Knex, check: CheckResult): Promise<JobPlan | null> {
  const id = certificateIdOf(check.resource.key);
  if (!id || !check.problems.some((p) => RENEWABLE.includes(p.cause))) return null;
  const cert = await getCertificate(db, id);
  if (!cert) return null;
  const [job] = await certJob(db, cert, cert.not_after !== null);
  return job ? { ...job, ownerId: cert.owner_id } : null;
}

async function certificateOwner(db: Knex, key: string): Promise<string | null> {
  const id = certificateIdOf(key);
  return (id && (await getCertificate(db, id))?.owner_id) ?? null;
}

/**
 * A check carries the serial and fingerprint of the row's version it was planned from (and
 * echoes that version); a failing one judged against a version the row no longer has (a
 * renewal recorded since) proves nothing.
 */
async function judgedAnotherVersion(db: Knex, check: CheckResult): Promise<boolean> {
  const id = certificateIdOf(check.resource.key);
  const version = check.measurements?.recordedAt;
  if (check.healthy || !id || typeof version !== 'number') return false;
  const cert = await getCertificate(db, id);
  return cert !== undefined && new Date(cert.updated_at).getTime() !== version;
}

export const certificateChecks: CheckKind = {
  type: 'certificate',
  op: healthCheckCertificate,
  plan: planChecks,
  keys: certificateKeys,
  policy: { failAfter: FAIL_AFTER, causedElsewhere: ON_PROXY, repair: { after: REPAIR_AFTER, plan: repairCertificate } },
  owner: certificateOwner,
  stale: judgedAnotherVersion,
};
