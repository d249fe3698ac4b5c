import { Type, type Static } from 'typebox';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';

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

export const healthCheckHost = defineOperation({
  name: 'health.check.host',
  summary: 'Is the host reachable over SSH, and are disk, memory and load under their thresholds?',
  payload: Type.Object(
    {
      resource: CheckedResource,
      host: HostRef,
      thresholds: Type.Object(
        {
          diskPercent: Type.Number({ minimum: 1, maximum: 100 }),
          memoryPercent: Type.Number({ minimum: 1, maximum: 100 }),
          loadPerCpu: Type.Number({ minimum: 0.1, maximum: 1000 }),
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false, $id: 'HealthCheckHostPayload' },
  ),
  result: CheckResult,
  retry: { maxAttempts: 1, tiersMs: [1_000] },
  timeoutMs: 30_000,
  concurrency: 32,
  queue: checkQueue,
});
