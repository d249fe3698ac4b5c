/**
 * What a certificate job's outcome changes: the row (dates, issuer, serial, or the error and
 * one more failure), the health record that raises an alarm after repeated failures, and,
 * after a first issuance, the vhosts that now get their HTTPS servers: the site's (tls on,
 * generation+1), or for a wildcard the group's base config and every site of the group.
 * Those jobs are written here in `accepted`; the outbox reconciler publishes them.
 */
import type { Knex } from 'knex';
import { getCertificate, type CertificateRow } from './store.ts';
import { recordCheck } from '../health/store.ts';
import type { JobRow } from '../jobs-store.ts';
import type { WebsiteRow } from '../websites/store.ts';
import { proxyMembers, type ProxyGroupRow } from '../proxies/store.ts';
import type { ResultEvent } from '../../queues/result-event.ts';
import { applyJobs } from '../websites/plans.ts';
import { proxyJobs } from '../proxies/routes.ts';
import { writePlans, type JobPlan } from '../plan.ts';
import { tenantJobs } from '../users/plans.ts';
import type { ObserverContext } from '../observe.ts';

/** Consecutive failed attempts before the certificate's alarm is raised. */
export const CERT_FAIL_AFTER = 3;

export async function certificateObserved(db: Knex, job: JobRow, event: ResultEvent, context: ObserverContext): Promise<void> {
  const id = (job.payload as { certificate?: { id?: string } } | null)?.certificate?.id;
  if (!id || event.status === 'superseded') return;
  const cert = await getCertificate(db, id);
  // Deleted since, or a newer job for it (changed names, a renewal) decides its state.
  if (!cert || cert.last_job_id !== job.id) return;
  const resource = { type: 'certificate', key: cert.id };
  if (event.status === 'succeeded') {
    const r = event.result as { notBefore: string; notAfter: string; issuer: string; serial: string; fingerprint: string };
    await db('certificates').where({ id }).update({
      status: 'valid',
      not_before: r.notBefore,
      not_after: r.notAfter,
      issuer: r.issuer,
      serial: r.serial,
      fingerprint: r.fingerprint,
      failures: 0,
      last_error: null,
      updated_at: db.fn.now(),
    });
    await recordCheck(
      db,
      { resource, healthy: true, problems: [], measurements: {} },
      new Date(event.at),
      { failAfter: CERT_FAIL_AFTER },
      cert.owner_id,
    );
    if (job.op === 'cert.issue') context.publish(await deployHttps(db, cert, job));
    return;
  }
  const message = event.error?.message ?? event.status;
  // The count and the alarm it raises commit together: a reader never sees one without the other.
  await db.transaction(async (trx) => {
    const [row]: CertificateRow[] = await trx('certificates')
      .where({ id })
      .update({ status: 'failed', last_error: message, failures: trx.raw('failures + 1'), updated_at: trx.fn.now() })
      .returning('*');
    await recordCheck(
      trx,
      {
        resource,
        healthy: false,
        problems: [
          {
            cause: 'certificate-failed',
            message: `certificate ${cert.names.join(', ')}: ${row.failures} failed attempts; last: ${message}`,
          },
        ],
        measurements: {},
      },
      new Date(event.at),
      { failAfter: CERT_FAIL_AFTER },
      cert.owner_id,
    );
  });
}

async function deployHttps(db: Knex, cert: CertificateRow, cause: JobRow): Promise<JobRow[]> {
  return db.transaction(async (trx) => {
    const planned: JobPlan[] = [];
    if (cert.kind === 'site' && cert.website_id) {
      const [site]: WebsiteRow[] = await trx('websites')
        .where({ id: cert.website_id })
        .update({ tls: true, generation: trx.raw('generation + 1'), updated_at: trx.fn.now() })
        .returning('*');
      if (!site) return [];
      const group: ProxyGroupRow = await trx('proxy_groups').where({ id: site.proxy_group_id }).first();
      const members = await proxyMembers(trx, group.id);
      // Sites from before their owners were provisioned with them get the owner first (none when there).
      planned.push(...(await tenantJobs(trx, [site.owner_id], members)));
      planned.push(...(await applyJobs(trx, group, members, site)));
    } else if (cert.kind === 'wildcard' && cert.proxy_group_id) {
      const [group]: ProxyGroupRow[] = await trx('proxy_groups')
        .where({ id: cert.proxy_group_id })
        .update({ generation: trx.raw('generation + 1'), updated_at: trx.fn.now() })
        .returning('*');
      if (!group) return [];
      const members = await proxyMembers(trx, group.id);
      planned.push(...(await proxyJobs(trx, group, members)));
      const sites: WebsiteRow[] = await trx('websites')
        .where({ proxy_group_id: group.id })
        .update({ generation: trx.raw('generation + 1'), updated_at: trx.fn.now() })
        .returning('*');
      planned.push(
        ...(await tenantJobs(
          trx,
          sites.map((s) => s.owner_id),
          members,
        )),
      );
      for (const site of sites) planned.push(...(await applyJobs(trx, group, members, site)));
    }
    // Follow-ups of the change that asked for the certificate: its correlation, its owner.
    return writePlans(
      trx,
      planned,
      { actor: 'system:certificates', tenant: cause.tenant, ownerId: cause.owner_id },
      { correlationId: cause.correlation_id },
    );
  });
}
