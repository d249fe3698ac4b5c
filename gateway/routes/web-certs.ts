/**
 * When certificates are asked for: a site's own names (as soon as it has any), a proxy
 * group's wildcard (when its zone is hosted here, so DNS-01 can prove it). Routes call
 * these inside their transaction; the jobs go out with the change they follow.
 */
import type { Knex } from 'knex';
import type { Static } from 'typebox';
import { dnsChallengeServer, markAttempt, upsertCertificate, type CertificateRow } from '../../lib/db/certs.ts';
import { hostRefOf } from '../../lib/db/hosts.ts';
import { claimedNames, layoutOf, proxyMembers, type ProxyGroupRow, type WebsiteRow } from '../../lib/db/web.ts';
import { certIssue, certRenew, siteCertName, WILDCARD_CERT, type CertPayload } from '../../queues/ops/cert.ts';
import { keyOf, type PlannedJob } from './web-jobs.ts';
import { serviceCertPayload } from './service-certs.ts';

/** The message for a certificate: the group's members now, the first one issuing, the zone's server for DNS-01. */
export async function certPayload(db: Knex, cert: CertificateRow): Promise<Static<typeof CertPayload> | null> {
  const groupId = cert.proxy_group_id ?? (cert.website_id ? (await db('websites').where({ id: cert.website_id }).first('proxy_group_id'))?.proxy_group_id : null);
  const group: ProxyGroupRow | undefined = groupId ? await db('proxy_groups').where({ id: groupId }).first() : undefined;
  if (!group) return null;
  const members = await proxyMembers(db, group.id);
  if (members.length === 0) return null;
  const planned = await Promise.all(members.map(async (m) => ({ host: await hostRefOf(db, m), layout: layoutOf(group, m) })));
  const server = cert.challenge === 'dns-01' ? await dnsChallengeServer(db, cert.names) : null;
  return {
    certificate: { id: cert.id, name: cert.name },
    names: cert.names,
    challenge: server ? 'dns-01' : 'http-01',
    issuer: planned[0],
    members: planned,
    dns: server && { address: server.address, port: server.port, keyName: server.keyName, algorithm: server.algorithm },
  };
}

/** A cert.issue (or cert.renew) job for the row, marking the row with the job when it is written. */
export async function certJob(db: Knex, cert: CertificateRow, renew = false): Promise<PlannedJob[]> {
  const payload = cert.kind === 'service' ? await serviceCertPayload(db, cert) : await certPayload(db, cert);
  if (!payload) return [];
  return [
    {
      op: renew ? certRenew : certIssue,
      payload,
      target: `certificate/${cert.name}`,
      generation: 1,
      alsoInTransaction: (trx, jobId) => markAttempt(trx, cert.id, jobId, cert.status === 'valid' || renew ? 'renewing' : 'pending'),
    },
  ];
}

/**
 * A site's certificate covers its own names (the temporary subdomain is the wildcard's).
 * Names unchanged and the certificate valid: nothing to do. No own names: no certificate.
 */
export async function siteCertificateJobs(trx: Knex, site: WebsiteRow): Promise<PlannedJob[]> {
  const names = claimedNames(site.spec).filter((n) => n !== site.temp_domain);
  const existing: CertificateRow | undefined = await trx('certificates').where({ website_id: site.id }).first();
  if (names.length === 0) {
    if (existing) await trx('certificates').where({ id: existing.id }).delete();
    return [];
  }
  if (existing && existing.status === 'valid' && sameNames(existing.names, names)) return [];
  const challenge = (await dnsChallengeServer(trx, names)) ? 'dns-01' : 'http-01';
  const cert = await upsertCertificate(trx, {
    kind: 'site', name: siteCertName(keyOf(site)), owner_id: site.owner_id, website_id: site.id, proxy_group_id: null, names, challenge,
  });
  return certJob(trx, cert);
}

/**
 * The group's wildcard (`*.<wildcard>` and the name itself) when its zone is hosted here;
 * also planned when a member joins, so that the new member gets the files (certbot keeps
 * the current certificate, the handler installs it everywhere).
 */
export async function wildcardCertificateJobs(trx: Knex, group: ProxyGroupRow): Promise<PlannedJob[]> {
  const names = [`*.${group.wildcard_domain}`, group.wildcard_domain];
  if (!(await dnsChallengeServer(trx, names))) return [];
  const cert = await upsertCertificate(trx, {
    kind: 'wildcard', name: WILDCARD_CERT, owner_id: null, website_id: null, proxy_group_id: group.id, names, challenge: 'dns-01',
  });
  return certJob(trx, cert);
}

/** Every certificate a group's members serve, re-issued (kept when current) to reach a member that joined. */
export async function groupCertificateJobs(trx: Knex, group: ProxyGroupRow): Promise<PlannedJob[]> {
  const planned = await wildcardCertificateJobs(trx, group);
  const sites: CertificateRow[] = await trx('certificates as c')
    .join('websites as w', 'w.id', 'c.website_id')
    .where('w.proxy_group_id', group.id)
    .select('c.*');
  for (const cert of sites) planned.push(...(await certJob(trx, cert)));
  return planned;
}

const sameNames = (a: string[], b: string[]) => a.length === b.length && [...a].sort().every((n, i) => n === [...b].sort()[i]);
