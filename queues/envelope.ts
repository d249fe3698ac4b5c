import { Type, type Static } from 'typebox';

/** Version of the envelope layout itself; payload versions live in the catalogue. */
export const ENVELOPE_VERSION = 1;

/**
 * What travels on `up.ops`: everything a stateless handler needs, nothing secret.
 * The payload is checked separately against the operation's own schema.
 */
export const Envelope = Type.Object({
  v: Type.Literal(ENVELOPE_VERSION),
  id: Type.String({ format: 'uuid', description: 'job id (UUIDv7, time-ordered)' }),
  op: Type.String({ pattern: '^[a-z][a-z0-9]*(\\.[a-z][a-z0-9-]*)+$' }),
  payloadVersion: Type.Integer({ minimum: 1 }),
  tenant: Type.Union([Type.String(), Type.Null()]),
  actor: Type.String(),
  attempt: Type.Integer({ minimum: 1 }),
  correlationId: Type.String(),
  requestedAt: Type.String({ format: 'date-time' }),
  deadline: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  generation: Type.Optional(Type.Integer({ minimum: 0 })),
  target: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  payload: Type.Unknown(),
});
export type Envelope = Static<typeof Envelope>;
