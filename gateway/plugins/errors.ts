import type { FastifyError, FastifyInstance } from 'fastify';
import { isDatabaseUnavailable } from '../../lib/db/connect.ts';
import { describe, InputError } from '../../lib/errors.ts';

/** An error a route throws on purpose: its status and message reach the client as they are. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: string[],
    /** Response headers that belong to the answer (e.g. `retry-after`). */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new HttpError(404, 'not_found', `${what} not found`);
export const conflict = (message: string) => new HttpError(409, 'conflict', message);

/** Seconds a client is asked to wait after a 503 (the database or a deadline). */
const RETRY_AFTER_SECONDS = '5';

const CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'too_many_requests',
};

/** One place turns every failure into `{ error, message, details? }`; 5xx never show internals. */
export function errorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | HttpError | InputError, request, reply) => {
    if (error instanceof HttpError) {
      if (error.headers) reply.headers(error.headers);
      if (error.statusCode === 503) reply.header('retry-after', RETRY_AFTER_SECONDS);
      return reply
        .code(error.statusCode)
        .send({ error: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) });
    }
    if (error instanceof InputError) {
      return reply.code(error.status).send({ error: CODES[error.status], message: error.message, details: [error.message] });
    }
    const fe = error as FastifyError;
    if (fe.validation) {
      const details = fe.validation.map((v) => `${fe.validationContext ?? 'request'}${v.instancePath || ''} ${v.message ?? 'is invalid'}`);
      return reply.code(400).send({ error: 'bad_request', message: details[0] ?? fe.message, details });
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.code(fe.statusCode).send({ error: CODES[fe.statusCode] ?? 'bad_request', message: fe.message });
    }
    if (isDatabaseUnavailable(error)) {
      request.log.warn({ err: describe(error) }, 'database unavailable');
      return reply
        .code(503)
        .header('retry-after', RETRY_AFTER_SECONDS)
        .send({ error: 'unavailable', message: 'the database is unavailable; try again shortly' });
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send({ error: 'internal', message: 'internal error' });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );
}
