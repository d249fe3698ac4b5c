import type { Knex } from 'knex';
import { recordCheck } from '../lib/db/health.ts';
import { CheckResult } from '../queues/ops/health.ts';
import type { ResultEvent } from '../queues/result-event.ts';
import { validator } from '../queues/validate.ts';
import { policyFor } from './health-policies.ts';

export { FAIL_AFTER } from './health-policies.ts';

const checkResult = validator<CheckResult>(CheckResult);

/**
 * Folds a health check's outcome into the resource's health (its alarms, its repair). The
 * check is dated when it started looking, so that one that looked before a repair finished
 * is not taken for the repair's outcome.
 */
export async function observeCheck(db: Knex, event: ResultEvent): Promise<void> {
  if (event.status !== 'succeeded' || !checkResult.check(event.result)) return;
  const { policy, owner } = policyFor(event.result.resource.type);
  const lookedAt = new Date(Date.parse(event.at) - Math.max(0, event.durationMs ?? 0));
  const ownerId = owner ? await owner(db, event.result.resource.key) : null;
  await recordCheck(db, event.result, lookedAt, policy, ownerId);
}
