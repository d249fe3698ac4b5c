import { Type, type TSchema } from 'typebox';
import { JOB_STATUSES } from '../queues/job-status.ts';

/**
 * Shared API shapes, registered once with `$id` so that OpenAPI names them as components;
 * routes refer to them with `Type.Ref(<id>)`.
 */
export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'a stable machine-readable code' }),
    message: Type.String({ description: 'what went wrong, for people' }),
    details: Type.Optional(Type.Array(Type.String())),
  },
  { $id: 'Error', description: 'Every error the API returns.' },
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
    status: Type.String(),
    at: Type.String({ format: 'date-time' }),
    handler: Type.Union([Type.Object({ host: Type.String(), pid: Type.Integer() }), Type.Null()]),
    target: Type.Union([Type.String(), Type.Null()]),
    durationMs: Type.Union([Type.Integer(), Type.Null()]),
    message: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'JobEvent' },
);

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
  { $id: 'Job' },
);

export const JobPage = Type.Object(
  {
    items: Type.Array(Type.Ref('Job')),
    next: Type.Union([Type.String(), Type.Null()], { description: 'cursor for the next page (`before`), null on the last' }),
  },
  { $id: 'JobPage' },
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
  { $id: 'DeadLetter' },
);

export const QueueStats = Type.Object(
  {
    queue: Type.String(),
    ready: Type.Integer(),
    unacked: Type.Union([Type.Integer(), Type.Null()]),
    consumers: Type.Integer(),
  },
  { $id: 'QueueStats' },
);

export const sharedSchemas: TSchema[] = [ErrorBody, JobStatus, JobError, JobEvent, Job, JobPage, DeadLetter, QueueStats];

/** Error responses every authenticated route may give, for the OpenAPI document. */
export const errorResponses = (...codes: number[]) =>
  Object.fromEntries(codes.map((code) => [code, Type.Ref('Error')]));
