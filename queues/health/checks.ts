import { Type, type Static, type TSchema } from 'typebox';
import { defineOperation, type Operation } from '../operation.ts';

export const CheckedResource = Type.Object(
  { type: Type.String({ pattern: '^[a-z][a-z0-9-]{0,30}$' }), key: Type.String({ minLength: 1, maxLength: 300 }) },
  { additionalProperties: false },
);

export const Problem = Type.Object({
  /** Stable per kind of problem: one alarm per resource and cause. */
  cause: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' }),
  message: Type.String({ maxLength: 2000 }),
});
export type Problem = Static<typeof Problem>;

/** What every health check answers; the recorder folds it into the resource's health. */
export const CheckResult = Type.Object({
  resource: CheckedResource,
  healthy: Type.Boolean(),
  problems: Type.Array(Problem),
  measurements: Type.Record(Type.String(), Type.Number()),
});
export type CheckResult = Static<typeof CheckResult>;

/**
 * Checks are published straight to the bus by the scheduler (no job row: a lost check is
 * replaced by the next); a stale one expires on the queue, and none is dead-lettered.
 */
export const checkQueue = { deliveryLimit: 2, deadLetter: false, messageTtlMs: 60_000 };

/**
 * A health check: what it looks at (`payload`), and the one answer every check gives. Checks
 * run once (the next round is the retry), expire when stale, and are never dead-lettered.
 */
export function defineCheck<P extends TSchema>(check: {
  name: string;
  summary: string;
  payload: P;
  timeoutMs?: number;
  concurrency?: number;
  tenantView?: Operation<P, typeof CheckResult>['tenantView'];
}): Operation<P, typeof CheckResult> {
  return defineOperation({
    timeoutMs: 30_000,
    concurrency: 32,
    ...check,
    result: CheckResult,
    retry: { maxAttempts: 1, tiersMs: [1_000] },
    queue: checkQueue,
  });
}
