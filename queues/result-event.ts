import { Type, type Static } from 'typebox';

/** Statuses a handler reports on `up.results` (the gateway owns `accepted` and `queued`). */
const ReportedStatus = Type.Union([
  Type.Literal('running'),
  Type.Literal('retrying'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
  Type.Literal('dead'),
  Type.Literal('superseded'),
]);

/**
 * One transition of one attempt of a job, published on `up.results` with routing key
 * `job.<status>`; a message holds one event or an array of events with that status (jobs
 * finishing together travel together). Duplicates and reordering are expected; the recorder
 * folds them.
 */
export const ResultEvent = Type.Object({
  v: Type.Literal(1),
  jobId: Type.String(),
  op: Type.String(),
  status: ReportedStatus,
  attempt: Type.Integer({ minimum: 1 }),
  /**
   * Which run of this attempt reported: 1 (or absent) for the first delivery of its message;
   * more when the broker handed it out again (a handler died or gave it back) or the
   * watchdog sent it again. A second run of the same attempt is a run of its own in history.
   */
  delivery: Type.Optional(Type.Integer({ minimum: 1 })),
  at: Type.String({ format: 'date-time' }),
  handler: Type.Object({ host: Type.String(), pid: Type.Integer() }),
  target: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  durationMs: Type.Optional(Type.Number()),
  /** When `retrying`: how long until the next attempt. */
  retryInMs: Type.Optional(Type.Integer()),
  result: Type.Optional(Type.Unknown()),
  error: Type.Optional(
    Type.Object({
      kind: Type.Union([Type.Literal('retryable'), Type.Literal('permanent'), Type.Literal('unknown'), Type.Literal('invalid')]),
      message: Type.String(),
      code: Type.Optional(Type.String()),
    }),
  ),
});
export type ResultEvent = Static<typeof ResultEvent>;
export type ReportedStatus = ResultEvent['status'];

export const resultRoutingKey = (status: ReportedStatus) => `job.${status}`;
