import type { Knex } from 'knex';
import { CheckResult } from '../../queues/health/checks.ts';
import type { ResultEvent } from '../../queues/result-event.ts';
import { validator } from '../../queues/validate.ts';
import type { CheckKind } from '../domain.ts';
import { recordCheck } from './store.ts';

const checkResult = validator<CheckResult>(CheckResult);

/**
 * Folds the outcomes of a kind's checks into its resources' health (their alarms, their
 * repair). A check is dated when it started looking, so that one that looked before a repair
 * finished is not taken for the repair's outcome.
 */
export const checkObserver =
  (kind: CheckKind) =>
  async (db: Knex, event: ResultEvent): Promise<void> => {
    if (event.status !== 'succeeded' || !checkResult.check(event.result) || event.result.resource.type !== kind.type) return;
    if (await kind.stale?.(db, event.result)) return;
    const lookedAt = new Date(Date.parse(event.at) - Math.max(0, event.durationMs ?? 0));
    const ownerId = kind.owner ? await kind.owner(db, event.result.resource.key) : null;
    await recordCheck(db, event.result, lookedAt, kind.policy, ownerId);
  };
