/**
 * A zone is healthy when its server serves exactly the records PostgreSQL has (a signed AXFR
 * compared with them); drift is repaired by dns.zone.verify with repair, the job the API runs.
 */
import type { Knex } from 'knex';
import { healthCheckDnsZone } from '../../queues/dns/health.ts';
import type { CheckKind } from '../domain.ts';
import { FAIL_AFTER, hasCause, REPAIR_AFTER } from '../health/policy.ts';
import { plan } from '../plan.ts';
import { verifyJob, zoneComparison } from './plans.ts';
import type { DnsZoneRow } from './store.ts';

/** Zones that should be served: created (or failed since), not being deleted. */
const checkedZones = (db: Knex) => db('dns_zones').whereIn('status', ['active', 'error']);

export const zoneChecks: CheckKind = {
  type: 'dns-zone',
  op: healthCheckDnsZone,
  async plan(db) {
    const zones: DnsZoneRow[] = await checkedZones(db).orderBy('name');
    return Promise.all(
      zones.map(async (zone) =>
        plan({
          op: healthCheckDnsZone,
          payload: { resource: { type: 'dns-zone', key: zone.name }, ...(await zoneComparison(db, zone)) },
          target: zone.name,
        }),
      ),
    );
  },
  policy: {
    failAfter: FAIL_AFTER,
    repair: {
      after: REPAIR_AFTER,
      async plan(db, check) {
        if (!hasCause(check, 'zone-drift')) return null;
        const zone: DnsZoneRow | undefined = await checkedZones(db).where({ name: check.resource.key }).first();
        return zone ? { ...(await verifyJob(db, zone, true)), ownerId: zone.owner_id } : null;
      },
    },
  },
  async owner(db, key) {
    const zone: Pick<DnsZoneRow, 'owner_id'> | undefined = await db('dns_zones').where({ name: key }).first('owner_id');
    return zone?.owner_id ?? null;
  },
};
