/**
 * Retrying a DNS job: planned again from the zone as it is now (by id, never by name), the way
 * its route plans it: the server as it is registered now, the records as PostgreSQL holds them.
 */
import type { Knex } from 'knex';
import { zoneRecords, type DnsRecordRow, type DnsZoneRow } from './store.ts';
import type { JobRow } from '../jobs-store.ts';
import { presentValue, type RecordSpec } from '../../lib/dns/validate.ts';
import type { RecordChange } from '../../queues/dns/ops.ts';
import { conflict } from '../plugins/errors.ts';
import type { Replanner, RetryPlan } from '../retry.ts';
import { markDeleting } from './zones.ts';
import { inFirstZoneFile } from './managed.ts';
import { recordsApplyJob, serverOfZone, verifyJob, zoneServerOf } from './plans.ts';
import { assertChangeable } from './records.ts';

type Write = (trx: Knex.Transaction, jobId: string) => Promise<void>;

const gone = (job: JobRow, name: string) =>
  conflict(`zone ${name} of job ${job.id} no longer exists, or is another zone now: there is nothing to retry; make the change again`);

/**
 * The zone the job acted on, still there and still its owner's. Jobs that do not name their zone
 * (written before jobs did) find it by name and owner.
 */
async function zoneOf(db: Knex, job: JobRow): Promise<DnsZoneRow> {
  const name = (job.payload as { zone: string }).zone;
  const zone: DnsZoneRow | undefined = job.resource_id
    ? await db('dns_zones').where({ id: job.resource_id }).first()
    : await db('dns_zones').where({ name, owner_id: job.owner_id }).first();
  if (!zone || (job.owner_id !== null && zone.owner_id !== job.owner_id)) throw gone(job, name);
  return zone;
}

/** The same check inside the retry's transaction (the zone row locked), then `write`. */
const stillThere =
  (job: JobRow, zone: DnsZoneRow, write?: Write): Write =>
  async (trx, jobId) => {
    const row = await trx('dns_zones').where({ id: zone.id, owner_id: zone.owner_id }).forUpdate().first('id');
    if (!row) throw gone(job, zone.name);
    await write?.(trx, jobId);
  };

const lastJob =
  (zone: DnsZoneRow): Write =>
  async (trx, jobId) => {
    await trx('dns_zones').where({ id: zone.id }).update({ last_job_id: jobId, updated_at: trx.fn.now() });
  };

const plan = (job: JobRow, zone: DnsZoneRow, planned: Omit<RetryPlan, 'generation'>): RetryPlan => ({
  ...planned,
  generation: job.generation,
  alsoInTransaction: stillThere(job, zone, planned.alsoInTransaction),
});

const rowKey = (row: Pick<DnsRecordRow, 'name' | 'type' | 'value'>) => `${row.name} ${row.type} ${row.value}`;
const specKey = (spec: RecordSpec) => `${spec.name} ${spec.type} ${presentValue(spec)}`;

/**
 * The changes of a records job that still agree with the zone's records: an addition whose record
 * is still there (same TTL), a deletion whose record is still gone. What changed since belongs
 * to the later jobs that changed it.
 */
function changesStillWanted(changes: RecordChange[], rows: DnsRecordRow[]): RecordChange[] {
  const present = new Set(rows.map(rowKey));
  const presentWithTtl = new Set(rows.map((row) => `${rowKey(row)} ${row.ttl}`));
  return changes.filter(({ op, record }) => {
    const spec = record as RecordSpec;
    return op === 'add' ? presentWithTtl.has(`${specKey(spec)} ${spec.ttl}`) : !present.has(specKey(spec));
  });
}

export const dnsReplanners: Record<string, Replanner> = {
  'dns.zone.create': {
    users: true,
    async plan(db, job) {
      const zone = await zoneOf(db, job);
      if (zone.status !== 'pending' && zone.status !== 'error')
        throw conflict(`zone ${zone.name} is ${zone.status}: there is nothing to create`);
      const server = await serverOfZone(db, zone);
      // A new zone file holds the managed addresses only; the rest follows it (inFirstZoneFile).
      const records = (await zoneRecords(db, zone.id))
        .filter((r) => r.manager_kind !== null && inFirstZoneFile(r))
        .map((r) => ({ ...r.data, name: r.name, type: r.type, ttl: r.ttl }));
      return plan(job, zone, {
        payload: { zone: zone.name, server: await zoneServerOf(db, server, zone.name), ...(records.length ? { records } : {}) },
        target: zone.name,
        resourceId: zone.id,
        alsoInTransaction: lastJob(zone),
      });
    },
  },
  'dns.zone.delete': {
    users: true,
    async plan(db, job) {
      const zone = await zoneOf(db, job);
      const server = await serverOfZone(db, zone);
      return plan(job, zone, {
        payload: { zone: zone.name, server: await zoneServerOf(db, server, zone.name) },
        target: zone.name,
        resourceId: zone.id,
        alsoInTransaction: markDeleting(zone),
      });
    },
  },
  'dns.records.apply': {
    users: true,
    async plan(db, job) {
      const zone = await zoneOf(db, job);
      assertChangeable(zone);
      const changes = changesStillWanted((job.payload as { changes: RecordChange[] }).changes, await zoneRecords(db, zone.id));
      if (changes.length === 0) {
        throw conflict(
          `the records of zone ${zone.name} changed since job ${job.id}: none of its changes is left to apply (verify with repair converges the server)`,
        );
      }
      const { op: _op, ...planned } = await recordsApplyJob(db, zone, changes);
      return plan(job, zone, planned);
    },
  },
  'dns.zone.verify': {
    users: true,
    async plan(db, job) {
      const zone = await zoneOf(db, job);
      assertChangeable(zone);
      const { op: _op, ...planned } = await verifyJob(db, zone, (job.payload as { repair: boolean }).repair);
      return plan(job, zone, planned);
    },
  },
};
