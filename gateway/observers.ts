import type { Knex } from 'knex';
import type { JobRow } from '../lib/db/jobs.ts';
import type { ResultEvent } from '../queues/result-event.ts';
import { observeCheck } from './health-observer.ts';
import { observeCertificateCheck } from './health-cert-observer.ts';
import { dnsObservers } from './routes/dns-observers.ts';
import { certificateObserved } from './routes/cert-observer.ts';
import { tenantDeprovisioned, tenantProvisioned } from '../lib/db/users.ts';
import { proxyMemberObserved, websiteHostObserved } from '../lib/db/web.ts';

/**
 * What the recorder does with a job's final outcome besides the job row: write the observed
 * state to the resource (a host's facts, a zone's serial, ...). Keyed by operation name.
 * An observer must be idempotent: the same outcome can arrive twice.
 */
export type Observer = (db: Knex, job: JobRow, event: ResultEvent) => Promise<void>;

export const observers: Record<string, Observer> = {
  ...dnsObservers,
  'tenant.provision': tenantProvisioned,
  'tenant.deprovision': tenantDeprovisioned,
  'proxy.apply': proxyMemberObserved,
  'website.apply': websiteHostObserved,
  'website.delete': websiteHostObserved,
  'cert.issue': certificateObserved,
  'cert.renew': certificateObserved,
  // Repairs are the same applies: what they converged to is recorded the same way.
  'health.repair.proxy': proxyMemberObserved,
  'health.repair.website': websiteHostObserved,
  // A host's facts are what its latest successful probe found; an older probe finishing late never overwrites a newer one.
  'host.probe': async (db, job, event) => {
    const name = (job.payload as { host?: { name?: unknown } } | null)?.host?.name;
    if (event.status !== 'succeeded' || typeof name !== 'string') return;
    await db('hosts')
      .where({ name })
      .andWhere((q) => q.whereNull('facts_at').orWhere('facts_at', '<=', event.at))
      .update({ facts: JSON.stringify(event.result), facts_at: event.at, updated_at: db.fn.now() });
  },
};

/**
 * For operations published without a job row (health checks): the outcome arrives alone,
 * and its result names the resource it is about.
 */
export type ResultObserver = (db: Knex, event: ResultEvent) => Promise<void>;

export const resultObservers: Record<string, ResultObserver> = {
  'health.check.host': observeCheck,
  'health.check.proxy': observeCheck,
  'health.check.website': observeCheck,
  'health.check.security': observeCheck,
  'health.check.dns-zone': observeCheck,
  'health.check.certificate': observeCertificateCheck,
};
