import { setTimeout as sleep } from 'node:timers/promises';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { hostRefOf, type HostRow } from '../lib/db/hosts.ts';
import { newJobId } from '../lib/ids.ts';
import type { Bus } from '../queues/bus.ts';
import { ENVELOPE_VERSION, type Envelope } from '../queues/envelope.ts';
import { describe } from '../queues/errors.ts';
import { healthCheckHost } from '../queues/ops/health.ts';
import { healthCheckProxy, healthCheckWebsite } from '../queues/ops/health-web.ts';
import { healthCheckSecurity } from '../queues/ops/health-security.ts';
import type { HostRef } from '../queues/host-ref.ts';
import { proxyKey, proxyTargets, securitySettings, websiteKey, websiteTargets } from '../lib/db/health-targets.ts';
import { layoutOf } from '../lib/db/web.ts';
import { forgetGone } from '../lib/db/health.ts';
import { keyOf } from '../gateway/routes/web-jobs.ts';
import { checkedZones, zoneComparison } from '../gateway/health-policies.ts';
import { healthCheckDnsZone } from '../queues/ops/health-dns.ts';
import { certificateChecks, certificateKeys } from '../gateway/health-certificates.ts';

export const HOST_THRESHOLDS = { diskPercent: 90, memoryPercent: 95, loadPerCpu: 4 };

/** Defaults, overridden per host by labels such as `health.load-per-cpu=8`. */
export function thresholdsFor(host: Pick<HostRow, 'labels'>): typeof HOST_THRESHOLDS {
  const label = (name: string, fallback: number, max: number) => {
    const value = Number(host.labels?.[`health.${name}`]);
    return Number.isFinite(value) && value > 0 && value <= max ? value : fallback;
  };
  return {
    diskPercent: label('disk-percent', HOST_THRESHOLDS.diskPercent, 100),
    memoryPercent: label('memory-percent', HOST_THRESHOLDS.memoryPercent, 100),
    loadPerCpu: label('load-per-cpu', HOST_THRESHOLDS.loadPerCpu, 1000),
  };
}

/** Waits `ms`; false when aborted first. */
const pause = (ms: number, signal: AbortSignal) =>
  sleep(ms, true, { signal, ref: false }).catch(() => false);

/** A check goes straight to the bus: no job row, it expires unread when stale. */
function checkEnvelope(op: { name: string; version: number }, payload: unknown, target: string, ttlMs: number): Envelope {
  const id = newJobId();
  return {
    v: ENVELOPE_VERSION,
    id,
    op: op.name,
    payloadVersion: op.version,
    tenant: null,
    actor: 'system:scheduler',
    attempt: 1,
    correlationId: id,
    requestedAt: new Date().toISOString(),
    deadline: new Date(Date.now() + ttlMs).toISOString(),
    target,
    payload,
  };
}

interface PlannedCheck {
  op: { name: string; version: number };
  payload: unknown;
  target: string;
}

/** Every check of one round: hosts (reachability, security), proxy members, websites per member, DNS zones. */
export async function plannedChecks(db: Knex): Promise<PlannedCheck[]> {
  const hosts: HostRow[] = await db('hosts').where({ maintenance: false }).orderBy('name');
  const refs = new Map<string, HostRef>();
  const refOf = async (host: HostRow) => refs.get(host.id) ?? refs.set(host.id, await hostRefOf(db, host)).get(host.id)!;
  const planned: PlannedCheck[] = [];
  for (const host of hosts) {
    const ref = await refOf(host);
    planned.push({ op: healthCheckHost, payload: { resource: { type: 'host', key: host.name }, host: ref, thresholds: thresholdsFor(host) }, target: host.name });
    planned.push({ op: healthCheckSecurity, payload: { resource: { type: 'security', key: host.name }, host: ref, ...(await securitySettings(db, host)) }, target: host.name });
  }
  const members = await proxyTargets(db);
  for (const { group, member } of members) {
    const key = proxyKey(group.name, member.name);
    planned.push({ op: healthCheckProxy, payload: { resource: { type: 'proxy', key }, host: await refOf(member), layout: layoutOf(group, member), generation: group.generation }, target: key });
  }
  for (const { group, member, site } of await websiteTargets(db, members)) {
    const key = websiteKey(keyOf(site), member.name);
    const spec = { id: site.id, key: keyOf(site), generation: site.generation, tempDomain: site.temp_domain };
    planned.push({ op: healthCheckWebsite, payload: { resource: { type: 'website', key }, host: await refOf(member), layout: layoutOf(group, member), site: spec }, target: key });
  }
  for (const zone of await checkedZones(db)) {
    planned.push({ op: healthCheckDnsZone, payload: { resource: { type: 'dns-zone', key: zone.name }, ...(await zoneComparison(db, zone)) }, target: zone.name });
  }
  planned.push(...(await certificateChecks(db, members, refOf)));
  return planned;
}

/**
 * The keys still checked, for the types whose resources can be deleted; hosts in maintenance
 * are not checked but still there.
 */
async function stillThere(db: Knex, planned: PlannedCheck[]): Promise<Map<string, Set<string>>> {
  const current = new Map<string, Set<string>>(['proxy', 'website', 'dns-zone'].map((type) => [type, new Set<string>()]));
  for (const check of planned) {
    const { type, key } = (check.payload as { resource: { type: string; key: string } }).resource;
    current.get(type)?.add(key);
  }
  const hosts = new Set<string>((await db('hosts').select('name')).map((h: { name: string }) => h.name));
  current.set('host', hosts).set('security', hosts).set('certificate', await certificateKeys(db, planned));
  return current;
}

/**
 * Publishes one round of checks for every deployed resource, spread evenly over the
 * interval so that ten thousand resources never arrive at once. Resolves when the round
 * has been published (or `signal` aborts it).
 */
export async function publishHealthRound(options: { db: Knex; bus: Bus; log: Logger; intervalMs: number; signal: AbortSignal }): Promise<number> {
  const { db, bus, log, intervalMs, signal } = options;
  const planned = await plannedChecks(db);
  await forgetGone(db, await stillThere(db, planned), new Date()).catch((error) => log.warn({ err: describe(error) }, 'could not forget the health of removed resources'));
  const gap = planned.length > 0 ? intervalMs / planned.length : 0;
  let published = 0;
  for (const [i, check] of planned.entries()) {
    if (i > 0 && !(await pause(gap, signal))) break;
    await bus
      .publishOp(checkEnvelope(check.op, check.payload, check.target, Math.max(intervalMs, 10_000)))
      .then(() => published++)
      .catch((error) => log.warn({ op: check.op.name, target: check.target, err: describe(error) }, 'could not publish a health check'));
  }
  return published;
}
