/** What DNS jobs tell about the zones: whether the server has them, their serial, the last failure. */
import type { Knex } from 'knex';
import type { JobRow } from '../../lib/db/jobs.ts';
import type { ResultEvent } from '../../queues/result-event.ts';
import type { Observer } from '../observers.ts';

type Payload = { zone: string };
const zoneOf = (job: JobRow) => (job.payload as Payload).zone;
const failure = (job: JobRow, event: ResultEvent) => `${job.op} job ${job.id} ${event.status}: ${event.error?.message ?? 'no reason given'}`;
const succeeded = (event: ResultEvent) => event.status === 'succeeded';

async function markError(db: Knex, job: JobRow, event: ResultEvent): Promise<void> {
  await db('dns_zones').where({ name: zoneOf(job) }).update({ status: 'error', status_message: failure(job, event), updated_at: db.fn.now() });
}

export const dnsObservers: Record<string, Observer> = {
  'dns.zone.create': async (db, job, event) => {
    if (!succeeded(event)) return markError(db, job, event);
    const { serial } = event.result as { serial: number };
    await db('dns_zones').where({ name: zoneOf(job) }).whereIn('status', ['pending', 'error'])
      .update({ status: 'active', status_message: null, serial, applied_at: db.fn.now(), updated_at: db.fn.now() });
  },
  'dns.zone.delete': async (db, job, event) => {
    // The zone row goes only once the server no longer has the zone; its records cascade.
    // A zone created again meanwhile is pending, and stays.
    if (succeeded(event)) await db('dns_zones').where({ name: zoneOf(job) }).whereNot({ status: 'pending' }).delete();
    else await markError(db, job, event);
  },
  'dns.records.apply': async (db, job, event) => {
    if (!succeeded(event)) return markError(db, job, event);
    const { serial } = event.result as { serial: number };
    await db('dns_zones').where({ name: zoneOf(job) }).whereIn('status', ['active', 'error'])
      .update({ status: 'active', status_message: null, serial, applied_at: db.fn.now(), updated_at: db.fn.now() });
  },
  'dns.zone.verify': async (db, job, event) => {
    if (!succeeded(event)) return markError(db, job, event);
    const { serial, missing, unexpected, repaired } = event.result as { serial: number; missing: unknown[]; unexpected: unknown[]; repaired: boolean };
    const drift = !repaired && missing.length + unexpected.length > 0;
    await db('dns_zones').where({ name: zoneOf(job) }).whereIn('status', ['active', 'error']).update({
      status: drift ? 'error' : 'active',
      status_message: drift ? `the server differs: ${missing.length} record(s) missing, ${unexpected.length} unexpected (job ${job.id}); verify with repair converges it` : null,
      serial, verified_at: db.fn.now(), updated_at: db.fn.now(),
    });
  },
};
