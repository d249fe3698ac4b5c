import type { Knex } from 'knex';
import { recordCheck } from '../lib/db/health.ts';
import { CheckResult } from '../queues/ops/health.ts';
import type { ResultEvent } from '../queues/result-event.ts';
import { validator } from '../queues/validate.ts';

const checkResult = validator<CheckResult>(CheckResult);

/** Consecutive failing checks before a resource is `failed` and its alarms are raised. */
export const FAIL_AFTER = 3;

/** Folds a health check's outcome into the resource's health (and its alarms). */
export async function observeCheck(db: Knex, event: ResultEvent): Promise<void> {
  if (event.status !== 'succeeded' || !checkResult.check(event.result)) return;
  await recordCheck(db, event.result, new Date(event.at), { failAfter: FAIL_AFTER });
}
