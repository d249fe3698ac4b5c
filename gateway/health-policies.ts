/**
 * How each checked resource type is judged and repaired, and whose it is (users see the
 * health and alarms of their own resources). Repairs are built from the desired state at the
 * moment they start, with the same planners as the API's jobs.
 */
import type { Knex } from 'knex';
import type { HealthPolicy, RepairJob } from '../lib/db/health.ts';
import { hostRefOf, getHostByName } from '../lib/db/hosts.ts';
import { getProxy, proxyMembers } from '../lib/db/web.ts';
import { securitySettings, splitKey, websiteTarget } from '../lib/db/health-targets.ts';
import type { CheckResult } from '../queues/ops/health.ts';
import { healthRepairProxy, healthRepairWebsite } from '../queues/ops/health-web.ts';
import { healthRepairSecurity } from '../queues/ops/health-security.ts';
import { proxyJobs } from './routes/proxies.ts';
import { endpointOf, nameserverOf, recordMessage, serverOfZone } from './routes/dns-payloads.ts';
import { zoneRecords, type DnsZoneRow } from '../lib/db/dns.ts';
import { dnsZoneVerify } from '../queues/ops/dns.ts';
import { applyJobs } from './routes/web-jobs.ts';
import { certificateOwner, repairCertificate } from './health-certificates.ts';

/** Consecutive failing checks before a resource is `failed` and its alarms are raised. */
export const FAIL_AFTER = 3;
/** A repairable resource is repaired at its second failing check in a row (one may be a blip). */
export const REPAIR_AFTER = 2;

const has = (check: CheckResult, ...causes: string[]) => check.problems.some((p) => causes.includes(p.cause));

async function repairProxy(db: Knex, check: CheckResult): Promise<RepairJob | null> {
  const names = splitKey(check.resource.key);
  if (!names || has(check, 'unreachable')) return null;
  const group = await getProxy(db, names[0]);
  const member = group && (await proxyMembers(db, group.id)).find((m) => m.name === names[1]);
  if (!group || !member) return null;
  const [job] = await proxyJobs(db, group, [member]);
  return { op: healthRepairProxy, payload: job.payload, target: job.target, generation: job.generation, ownerId: null };
}

async function repairWebsite(db: Knex, check: CheckResult): Promise<RepairJob | null> {
  const names = splitKey(check.resource.key);
  // A stopped nginx is the proxy's to repair; an unreachable host is nobody's.
  if (!names || has(check, 'unreachable', 'proxy-down') || !has(check, 'vhost-missing', 'vhost-stale', 'not-served', 'not-answering', 'server-error')) return null;
  const target = await websiteTarget(db, names[0], names[1]);
  if (!target) return null;
  const [job] = await applyJobs(db, target.group, [target.member], target.site, target.site.name);
  return { op: healthRepairWebsite, payload: job.payload, target: job.target, generation: job.generation, ownerId: target.site.owner_id };
}

async function repairSecurity(db: Knex, check: CheckResult): Promise<RepairJob | null> {
  if (!has(check, 'unsafe-files')) return null;
  const host = await getHostByName(db, check.resource.key);
  if (!host) return null;
  const { dirs } = await securitySettings(db, host);
  return { op: healthRepairSecurity, payload: { host: await hostRefOf(db, host), dirs }, target: `security@${host.name}`, generation: null, ownerId: null };
}

/** What dns.zone.verify and its check compare: the zone's server and its records as PostgreSQL has them. */
export async function zoneComparison(db: Knex, zone: DnsZoneRow) {
  const server = await serverOfZone(db, zone);
  const expected = (await zoneRecords(db, zone.id)).map(recordMessage);
  return { zone: zone.name, server: { ...endpointOf(server), nameserver: nameserverOf(server, zone.name) }, expected };
}

/** Zones that should be served: created (or failed since), not being deleted. */
export const checkedZones = (db: Knex): Promise<DnsZoneRow[]> => db('dns_zones').whereIn('status', ['active', 'error']).orderBy('name');

async function repairZone(db: Knex, check: CheckResult): Promise<RepairJob | null> {
  if (!has(check, 'zone-drift')) return null;
  const zone: DnsZoneRow | undefined = await db('dns_zones').where({ name: check.resource.key }).whereIn('status', ['active', 'error']).first();
  if (!zone) return null;
  return { op: dnsZoneVerify, payload: { ...(await zoneComparison(db, zone)), repair: true }, target: zone.name, generation: null, ownerId: zone.owner_id };
}

const zoneOwner = async (db: Knex, key: string) => ((await db('dns_zones').where({ name: key }).first('owner_id')) as { owner_id: string } | undefined)?.owner_id ?? null;

interface TypePolicy {
  policy: HealthPolicy;
  owner?(db: Knex, key: string): Promise<string | null>;
}

const siteOwner = async (db: Knex, key: string) => {
  const names = splitKey(key);
  return (names && (await websiteTarget(db, names[0], names[1]))?.site.owner_id) ?? null;
};

/** The host check alarms a host that does not answer; the proxy check, a stopped nginx. */
const ON_HOST = ['unreachable'];
const ON_PROXY = [...ON_HOST, 'proxy-down'];

export const HEALTH_POLICIES: Record<string, TypePolicy> = {
  host: { policy: { failAfter: FAIL_AFTER } },
  proxy: { policy: { failAfter: FAIL_AFTER, causedElsewhere: ON_HOST, repair: { after: REPAIR_AFTER, plan: repairProxy } } },
  website: { policy: { failAfter: FAIL_AFTER, causedElsewhere: ON_PROXY, repair: { after: REPAIR_AFTER, plan: repairWebsite } }, owner: siteOwner },
  'dns-zone': { policy: { failAfter: FAIL_AFTER, repair: { after: REPAIR_AFTER, plan: repairZone } }, owner: zoneOwner },
  // A security finding is an alarm at once (no blip hides a break-in attempt); unsafe modes are repaired too.
  security: { policy: { failAfter: 1, causedElsewhere: ON_HOST, repair: { after: 1, plan: repairSecurity } } },
  certificate: { policy: { failAfter: FAIL_AFTER, causedElsewhere: ON_PROXY, repair: { after: REPAIR_AFTER, plan: repairCertificate } }, owner: certificateOwner },
};

export const policyFor = (type: string): TypePolicy => HEALTH_POLICIES[type] ?? { policy: { failAfter: FAIL_AFTER } };
