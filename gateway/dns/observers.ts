/** What DNS jobs tell about the zones: whether the server has them, their serial, the last failure. */
import type { Knex } from 'knex';
import type { JobRow } from '../jobs-store.ts';
import { dnsRecordsApply, dnsZoneCreate, dnsZoneDelete, dnsZoneVerify } from '../../queues/dns/ops.ts';
import type { ResultEvent } from '../../queues/result-event.ts';
import { observe } from '../observe.ts';
import { userText } from '../views.ts';
import { inFirstZoneFile } from './managed.ts';
import { recordMessage, recordsApplyJob } from './plans.ts';
import { rollBackChanges } from './rollback.ts';
import { zoneRecords, type DnsZoneRow } from './store.ts';
import { writePlans } from '../plan.ts';

/** The zone's owner reads it: the job's error as their view of the job shows it (the job keeps it whole for the admin). */
const failure = (job: Pick<JobRow, 'op' | 'id' | 'payload'>, event: ResultEvent) =>
  `${job.op} job ${job.id} ${event.status}: ${userText(job)(event.error?.message ?? 'no reason given')}`;
const succeeded = (event: ResultEvent) => event.status === 'succeeded';

/**
 * The zone the job acted on, by id: a name can belong to another user's zone by now. Jobs
 * without one (written before jobs named their resource, or by paths that do not say) find
 * the zone by name, but only while it still belongs to the job's owner.
 */
function zoneOf(db: Knex, job: Omit<JobRow, 'payload'> & { payload: { zone: string } }) {
  if (job.resource_id) return db('dns_zones').where({ id: job.resource_id });
  return db('dns_zones').where({ name: job.payload.zone, owner_id: job.owner_id });
}

async function markError(db: Knex, job: Omit<JobRow, 'payload'> & { payload: { zone: string } }, event: ResultEvent): Promise<void> {
  await zoneOf(db, job).update({ status: 'error', status_message: failure(job, event), updated_at: db.fn.now() });
}

export const dnsObservers = [
  observe(dnsZoneCreate, async (db, job, event, context) => {
    if (!succeeded(event)) return markError(db, job, event);
    const { serial } = event.result!;
    await zoneOf(db, job)
      .whereIn('status', ['pending', 'error'])
      .update({ status: 'active', status_message: null, serial, applied_at: db.fn.now(), updated_at: db.fn.now() });
    // The adopted records the first file could not hold follow in one UPDATE.
    const jobs = await db.transaction(async (trx) => {
      const zone: DnsZoneRow | undefined = await zoneOf(trx, job).where({ status: 'active' }).first();
      if (!zone) return [];
      const rest = (await zoneRecords(trx, zone.id)).filter((r) => r.manager_kind !== null && !inFirstZoneFile(r));
      if (rest.length === 0) return [];
      const apply = await recordsApplyJob(
        trx,
        zone,
        rest.map((row) => ({ op: 'add' as const, record: recordMessage(row) })),
      );
      return writePlans(
        trx,
        [apply],
        { actor: job.actor, tenant: job.tenant, ownerId: zone.owner_id },
        { correlationId: job.correlation_id },
      );
    });
    context.publish(jobs);
  }),
  observe(dnsZoneDelete, async (db, job, event) => {
    // The zone row goes only once the server no longer has the zone; its records cascade.
    // A zone created again meanwhile is pending (and, by id, another zone), and stays.
    if (succeeded(event)) await zoneOf(db, job).whereNot({ status: 'pending' }).delete();
    else await markError(db, job, event);
  }),
  observe(dnsRecordsApply, async (db, job, event) => {
    // Refused for good: the server has none of it (one UPDATE), so neither has PostgreSQL from now on.
    // Jobs of records kept for websites and proxy groups (they carry a generation) follow their owner instead.
    if ((event.status === 'failed' || event.status === 'dead') && event.error?.code === 'REFUSED' && job.generation === null) {
      return db.transaction(async (trx) => {
        const zone = await zoneOf(trx, job).first();
        if (!zone) return;
        const undone = await rollBackChanges(trx, zone.id, job.payload.changes);
        const note = undone.length ? `; not applied, so up no longer has it: ${undone.join(', ')}` : '';
        await trx('dns_zones')
          .where({ id: zone.id })
          .update({ status: 'error', status_message: `${failure(job, event)}${note}`.slice(0, 4000), updated_at: trx.fn.now() });
      });
    }
    if (!succeeded(event)) return markError(db, job, event);
    const { serial } = event.result!;
    await zoneOf(db, job)
      .whereIn('status', ['active', 'error'])
      .update({ status: 'active', status_message: null, serial, applied_at: db.fn.now(), updated_at: db.fn.now() });
  }),
  observe(dnsZoneVerify, async (db, job, event) => {
    if (!succeeded(event)) return markError(db, job, event);
    const { serial, missing, unexpected, repaired, refused = [] } = event.result!;
    const drift = !repaired && missing.length + unexpected.length > 0;
    const shown = refused
      .slice(0, 10)
      .map((d) => `${d.name} ${d.type} ${d.value}`)
      .join(', ');
    await zoneOf(db, job)
      .whereIn('status', ['active', 'error'])
      .update({
        status: drift || refused.length > 0 ? 'error' : 'active',
        status_message:
          refused.length > 0
            ? `the server refused ${refused.length} record(s) up has, so they are not served: ${shown}${refused.length > 10 ? ', …' : ''} (job ${job.id}; an integrity check, e.g. an MX whose in-zone target has no address); the rest was repaired; change or delete them`
            : drift
              ? `the server differs: ${missing.length} record(s) missing, ${unexpected.length} unexpected (job ${job.id}); verify with repair converges it`
              : null,
        serial,
        verified_at: db.fn.now(),
        updated_at: db.fn.now(),
      });
  }),
];
