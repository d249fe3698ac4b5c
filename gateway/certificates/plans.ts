/**
 * When certificates are asked for: a site's own names (as soon as it has any), a proxy
 * group's wildcard (when its zone is hosted here, so DNS-01 can prove it). Routes call
 * these inside their transaction; the jobs go out with the change they follow.
 */
import type { Knex } from 'knex';
import type { Static } from 'typebox';
import { dnsChallengeServer, markAttempt, upsertCertificate, zoneServerFor, type CertificateRow } from './store.ts';
import { hostRefOf } from '../hosts/store.ts';
import { claimedNames, type WebsiteRow } from '../websites/store.ts';
import { layoutOf, proxyMembers, type ProxyGroupRow } from '../proxies/store.ts';
import { certIssue, certRenew, siteCertName, WILDCARD_CERT, type CertPayload } from '../../queues/certificates/ops.ts';
import { keyOf } from '../websites/plans.ts';
import { serviceCertPayload } from './service.ts';
import { plan, type JobPlan } from '../plan.ts';

/** The message for a certificate: the group's members now, the first one issuing, the zone's server for DNS-01. */
export async function certPayload(db: Knex, cert: CertificateRow): Promise<Static<typeof CertPayload> | null> {
  const groupId =
    cert.proxy_group_id ??
    (cert.website_id ? (await db('websites').where({ id: cert.website_id }).first('proxy_group_id'))?.proxy_group_id : null);
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
export async function certJob(db: Knex, cert: CertificateRow, renew = false): Promise<JobPlan[]> {
  const payload = cert.kind === 'service' ? await serviceCertPayload(db, cert) : await certPayload(db, cert);
  if (!payload) return [];
  return [
    plan({
      op: renew ? certRenew : certIssue,
      payload,
      target: `certificate/${cert.name}`,
      generation: 1,
      alsoInTransaction: (trx, jobId) => markAttempt(trx, cert.id, jobId, cert.status === 'valid' || renew ? 'renewing' : 'pending'),
    }),
  ];
}

/**
 * A site's certificate covers its own names (the temporary subdomain is the wildcard's).
 * Names unchanged and the certificate valid: nothing to do. No own names: no certificate.
 */
export async function siteCertificateJobs(trx: Knex, site: WebsiteRow): Promise<JobPlan[]> {
  const names = claimedNames(site.spec).filter((n) => n !== site.temp_domain);
  const existing: CertificateRow | undefined = await trx('certificates').where({ website_id: site.id }).first();
  if (names.length === 0) {
    if (existing) await trx('certificates').where({ id: existing.id }).delete();
    return [];
  }
  if (existing && existing.status === 'valid' && sameNames(existing.names, names)) return [];
  const challenge = (await dnsChallengeServer(trx, names)) ? 'dns-01' : 'http-01';
  const cert = await upsertCertificate(trx, {
    kind: 'site',
    name: siteCertName(keyOf(site)),
    owner_id: site.owner_id,
    website_id: site.id,
    proxy_group_id: null,
    names,
    challenge,
  });
  return certJob(trx, cert);
}

/**
 * The group's wildcard (`*.<wildcard>` and the name itself) when its zone is hosted here;
 * also planned when a member joins, so that the new member gets the files (certbot keeps
 * the current certificate, the handler installs it everywhere).
 */
export async function wildcardCertificateJobs(trx: Knex, group: ProxyGroupRow): Promise<JobPlan[]> {
  const names = [`*.${group.wildcard_domain}`, group.wildcard_domain];
  if (!(await dnsChallengeServer(trx, names))) return [];
  const cert = await upsertCertificate(trx, {
    kind: 'wildcard',
    name: WILDCARD_CERT,
    owner_id: null,
    website_id: null,
    proxy_group_id: group.id,
    names,
    challenge: 'dns-01',
  });
  return certJob(trx, cert);
}

/** The names of a group's wildcard certificate. */
export const wildcardNames = (group: Pick<ProxyGroupRow, 'wildcard_domain'>) => [`*.${group.wildcard_domain}`, group.wildcard_domain];

/**
 * Why the group's wildcard certificate cannot be issued now, or null when it can: the group
 * needs a member (certbot runs there) and zones hosted here, on one server and active (BIND
 * has them), holding both names, so that DNS-01 can prove them.
 */
export async function wildcardRefusal(db: Knex, group: ProxyGroupRow): Promise<string | null> {
  const names = wildcardNames(group);
  if ((await proxyMembers(db, group.id)).length === 0) return `proxy group ${group.name} has no member to issue its certificate on`;
  if (!(await dnsChallengeServer(db, names)))
    return `no DNS zone hosted here covers ${names.join(' and ')} (on one server): create the zone of ${group.wildcard_domain} first`;
  const zones = await Promise.all(names.map((n) => zoneServerFor(db, n)));
  const inactive: { name: string; status: string }[] = await db('dns_zones')
    .whereIn('name', [...new Set(zones.map((z) => z!.zone))])
    .whereNot({ status: 'active' })
    .select('name', 'status');
  if (inactive.length) return `the DNS zone ${inactive[0].name} is ${inactive[0].status}, not yet active`;
  return null;
}

/**
 * Groups whose wildcard certificate can be issued but was never asked for (no row, or a row
 * planned before the group had a member): the zone came after the group, the natural order.
 */
export async function missingWildcards(db: Knex): Promise<ProxyGroupRow[]> {
  const groups: ProxyGroupRow[] = await db('proxy_groups as g')
    .whereExists(db('proxy_members as m').whereRaw('m.group_id = g.id'))
    .whereNotExists(db('certificates as c').whereRaw('c.proxy_group_id = g.id').where('c.kind', 'wildcard').whereNotNull('c.last_job_id'))
    .orderBy('g.name')
    .select('g.*');
  const due: ProxyGroupRow[] = [];
  for (const group of groups) if ((await wildcardRefusal(db, group)) === null) due.push(group);
  return due;
}

/** Every certificate a group's members serve, re-issued (kept when current) to reach a member that joined. */
export async function groupCertificateJobs(trx: Knex, group: ProxyGroupRow): Promise<JobPlan[]> {
  const planned = await wildcardCertificateJobs(trx, group);
  const sites: CertificateRow[] = await trx('certificates as c')
    .join('websites as w', 'w.id', 'c.website_id')
    .where('w.proxy_group_id', group.id)
    .select('c.*');
  for (const cert of sites) planned.push(...(await certJob(trx, cert)));
  return planned;
}

const sameNames = (a: string[], b: string[]) => a.length === b.length && [...a].sort().every((n, i) => n === [...b].sort()[i]);
