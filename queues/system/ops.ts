import { Type } from 'typebox';
import { defineOperation } from '../operation.ts';

/** The canary: proves the whole pipeline works, end to end, forever. */
export const systemPing = defineOperation({
  name: 'system.ping',
  summary: 'Round-trip a message through a handler (the pipeline canary).',
  payload: Type.Object(
    {
      delayMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000, description: 'how long the handler waits before answering' })),
      fail: Type.Optional(
        Type.Union([Type.Literal('transient'), Type.Literal('permanent')], {
          description: 'make the handler fail: transient failures are retried, permanent ones go to dead letters',
        }),
      ),
      failAttempts: Type.Optional(
        Type.Integer({ minimum: 1, maximum: 100, description: 'with fail=transient: fail only the first N attempts, then succeed' }),
      ),
    },
    { additionalProperties: false, $id: 'SystemPingPayload' },
  ),
  result: Type.Object(
    {
      handler: Type.Object({ host: Type.String(), pid: Type.Integer() }),
      at: Type.String({ format: 'date-time' }),
    },
    { additionalProperties: false, $id: 'SystemPingResult' },
  ),
  retry: { maxAttempts: 4, tiersMs: [200, 1_000, 5_000] },
  timeoutMs: 70_000,
  // No I/O of its own: its throughput is the broker's confirm latency times messages in flight.
  concurrency: 1024,
});
