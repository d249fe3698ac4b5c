import type { Knex } from 'knex';
import { getCertificate } from '../lib/db/certs.ts';
import type { CheckResult } from '../queues/ops/health.ts';
import type { ResultEvent } from '../queues/result-event.ts';
import { certificateIdOf } from './health-certificates.ts';
import { observeCheck } from './health-observer.ts';

/**
 * A check carries the serial and fingerprint of the row's version it was planned from (and
 * echoes that version); a failing one judged against a version the row no longer has (a
 * renewal recorded since) proves nothing. Everything else is folded in like any check.
 */
export async function observeCertificateCheck(db: Knex, event: ResultEvent): Promise<void> {
  const result = event.result as CheckResult | undefined;
  const id = typeof result?.resource?.key === 'string' ? certificateIdOf(result.resource.key) : null;
  const version = result?.measurements?.recordedAt;
  if (event.status === 'succeeded' && result && !result.healthy && id && typeof version === 'number') {
    const cert = await getCertificate(db, id);
    if (cert && new Date(cert.updated_at).getTime() !== version) return;
  }
  await observeCheck(db, event);
}
