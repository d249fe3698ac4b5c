import { Type, type Static, type TSchema } from 'typebox';
import { JOB_STATUSES } from '../queues/job-status.ts';

/**
 * Shared API shapes, registered once with `$id` so that OpenAPI names them as components;
 * routes refer to them with `Type.Ref(<id>)`.
 */
/**
 * A `$ref` to a registered component that keeps the component's type: `Type.Ref('X')` alone
 * types a request body as unknown, and every route then casts it. The document shows the ref.
 */
export const refTo = <T extends TSchema & { $id?: string }>(schema: T) => Type.Unsafe<Static<T>>(Type.Ref(schema.$id!));

/** A schema's first example (the OpenAPI document shows them; pages and changes are built from them). */
export const exampleOf = (schema: TSchema): unknown => (schema as { examples?: unknown[] }).examples?.[0];

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'a stable machine-readable code' }),
    message: Type.String({ description: 'what went wrong, for people' }),
    details: Type.Optional(Type.Array(Type.String())),
  },
  {
    $id: 'Error',
    description: 'Every error the API returns.',
    examples: [
      {
        error: 'bad_request',
        message: 'body/name must match pattern "^[a-z][a-z0-9-]{0,62}$"',
        details: ['body/name must match pattern "^[a-z][a-z0-9-]{0,62}$"'],
      },
    ],
  },
);

export const JobStatus = Type.Union(
  JOB_STATUSES.map((s) => Type.Literal(s)),
  { $id: 'JobStatus' },
);

export const JobError = Type.Object(
  { kind: Type.String(), message: Type.String(), code: Type.Optional(Type.String()) },
  { $id: 'JobError' },
);

export const JobEvent = Type.Object(
  {
    attempt: Type.Integer(),
    delivery: Type.Integer({
      minimum: 1,
      description:
        'which run of the attempt: 1 for the first; more when its message was handed out again (a handler died holding it) or the watchdog sent it again',
    }),
    status: Type.String(),
    at: Type.String({ format: 'date-time' }),
    handler: Type.Union([Type.Object({ host: Type.String(), pid: Type.Integer() }), Type.Null()]),
    target: Type.Union([Type.String(), Type.Null()]),
    durationMs: Type.Union([Type.Integer(), Type.Null()]),
    message: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'JobEvent' },
);

/** The job of the examples: the change a website edit made on one member host. */
export const JOB_EXAMPLE = {
  id: '0193a5c3-4b5c-7d6e-8f70-8192a3b4c5d6',
  op: 'website.apply',
  status: 'succeeded',
  tenant: 'alice',
  actor: 'alice',
  attempt: 1,
  maxAttempts: 5,
  payload: { website: 'shop', generation: 3 },
  result: { generation: 3 },
  error: null,
  correlationId: '0193a5c3-4b5c-7d6e-8f70-8192a3b4c5d6',
  retryOf: null,
  target: 'web1',
  createdAt: '2026-12-05T10:00:00.000Z',
  updatedAt: '2026-12-05T10:00:02.000Z',
  finishedAt: '2026-12-05T10:00:02.000Z',
};

export const Job = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    op: Type.String(),
    status: Type.Ref('JobStatus'),
    tenant: Type.Union([Type.String(), Type.Null()]),
    actor: Type.String(),
    attempt: Type.Integer({ description: 'the latest attempt a handler started (0 before the first)' }),
    maxAttempts: Type.Integer(),
    payload: Type.Unknown(),
    result: Type.Unknown(),
    error: Type.Union([Type.Ref('JobError'), Type.Null()]),
    correlationId: Type.String(),
    retryOf: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    target: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    events: Type.Optional(Type.Array(Type.Ref('JobEvent'))),
  },
  { $id: 'Job', examples: [JOB_EXAMPLE] },
);

export const DeadLetter = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    jobId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    op: Type.Union([Type.String(), Type.Null()]),
    reason: Type.String(),
    deadAt: Type.String({ format: 'date-time' }),
    replayedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    replayJobId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  },
  {
    $id: 'DeadLetter',
    examples: [
      {
        id: '0193a5c5-6d7e-7f80-9102-b3c4d5e6f708',
        jobId: '0193a5c3-4b5c-7d6e-8f70-8192a3b4c5d6',
        op: 'website.apply',
        reason: 'attempts exhausted (5/5): ssh web1 (192.0.2.10:22): connection timed out',
        deadAt: '2026-12-05T10:30:00.000Z',
        replayedAt: null,
        replayJobId: null,
      },
    ],
  },
);

export const QueueStats = Type.Object(
  {
    queue: Type.String(),
    ready: Type.Integer(),
    unacked: Type.Union([Type.Integer(), Type.Null()]),
    consumers: Type.Integer(),
  },
  { $id: 'QueueStats', examples: [{ queue: 'up.website.apply', ready: 0, unacked: 1, consumers: 2 }] },
);

export const sharedSchemas: TSchema[] = [ErrorBody, JobStatus, JobError, JobEvent, Job, DeadLetter, QueueStats];

/** An opaque page cursor: what a list gave as `next`, nothing a caller builds. */
export const CURSOR_PATTERN = '^[A-Za-z0-9_-]{1,1000}$';

/**
 * The one shape of every list: `{ items, next? }`. `next` is there only when more items follow;
 * pass it back as `?after=` for the next page. Given a registered component (with `$id`), the
 * items refer to it and the page's example is built from the component's first example.
 */
export const Page = <T extends TSchema & { $id?: string }>(item: T, description?: string) => {
  const example = exampleOf(item);
  return Type.Object(
    {
      items: Type.Array(item.$id ? refTo(item) : item),
      next: Type.Optional(
        Type.String({
          pattern: CURSOR_PATTERN,
          description: 'present only when more items follow: pass it back as `after` to get the next page',
        }),
      ),
    },
    {
      description: description ?? 'A page of the list, in its order; `next` is absent on the last page.',
      ...(example === undefined ? {} : { examples: [{ items: [example], next: EXAMPLE_CURSOR }] }),
    },
  );
};

/** What a page's `next` looks like in the examples (opaque; this one encodes `["example.net"]`). */
export const EXAMPLE_CURSOR = 'WyJleGFtcGxlLm5ldCJd';

/** The query parameters of a paged list: `limit` (with its default and maximum) and the `after` cursor. */
export const pageQuery = (limits: { default: number; maximum: number }) => ({
  limit: Type.Integer({
    minimum: 1,
    maximum: limits.maximum,
    default: limits.default,
    description: `items per page: ${limits.default} unless given, at most ${limits.maximum}`,
  }),
  after: Type.Optional(Type.String({ pattern: CURSOR_PATTERN, description: 'the `next` of the previous page: the page that follows it' })),
});

/** Error responses every authenticated route may give, for the OpenAPI document. */
export const errorResponses = (...codes: number[]) => Object.fromEntries(codes.map((code) => [code, Type.Ref('Error')]));
