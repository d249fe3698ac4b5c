import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Knex } from 'knex';
import { Batcher } from '../../lib/batcher.ts';
import { isDatabaseUnavailable } from '../../lib/db/connect.ts';
import { outcomeOf, recordAudits } from '../../lib/db/audit.ts';
import { describe } from '../../lib/errors.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { guardApiRoutes } from './api-routes.ts';
import { callerOf } from './auth.ts';
import { normalizeIp } from './ip-allow.ts';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const JOB_LOCATION = new RegExp(`^/v1/jobs/(${UUID_PATTERN.slice(1, -1)})$`);
const RESOURCE_LOCATION = /^\/v1\/(?:[a-z-]+\/)+([A-Za-z0-9._-]{1,200})$/;

export interface AuditTrail {
  /** Waits for the entries still being written (shutdown, tests). */
  drain(): Promise<void>;
}

/**
 * Records every mutating request to a `/v1` route after its response: who (user, token, and
 * the admin when one acted as the user), from where,
 * what (method, route pattern, resource id, job id), the status and the outcome. Only those
 * fields: never a body, a query string, a header or a token, so no secret can land here.
 */
export function auditTrail(app: FastifyInstance, options: { db: Knex }): AuditTrail {
  const pending = new Set<Promise<void>>();
  // Written after the response, off the caller's path: entries of 20 ms share one INSERT.
  const entries = new Batcher((batch: ReturnType<typeof entryOf>[]) => recordAudits(options.db, batch), {
    lingerMs: 20,
    splitOnError: (error) => !isDatabaseUnavailable(error),
  });
  // A hook of each API route: every spelling of a URL that reached a route is recorded under its pattern.
  guardApiRoutes(app, 'onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    if (!MUTATING.has(request.method)) return;
    const write = entries
      .add(entryOf(request, reply))
      .catch((error) => request.log.warn({ err: describe(error) }, 'could not write the audit entry'))
      .finally(() => pending.delete(write));
    pending.add(write);
    await write;
  });
  const trail: AuditTrail = { drain: async () => void (await Promise.all([...pending])) };
  app.addHook('onClose', () => trail.drain());
  return trail;
}

/**
 * A path parameter as the router decoded it may hold control characters (`%00`): written
 * escaped, since PostgreSQL refuses a NUL in text and the whole entry would be lost.
 */
const printable = (text: string) => text.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

function entryOf(request: FastifyRequest, reply: FastifyReply) {
  const location = String(reply.getHeader('location') ?? '');
  const jobId = JOB_LOCATION.exec(location)?.[1] ?? null;
  const params = (request.params ?? {}) as Record<string, unknown>;
  const idParam = request.routeOptions.config?.owned?.idParam;
  const fromParams = [idParam, 'id', 'name'].map((p) => (p ? params[p] : undefined)).find((v) => typeof v === 'string');
  const created = !jobId ? RESOURCE_LOCATION.exec(location)?.[1] : undefined;
  const caller = callerOf(request);
  return {
    user_id: caller?.userId ?? null,
    actor: caller?.actor ?? null,
    impersonator_id: caller?.impersonator?.userId ?? null,
    impersonator: caller?.impersonator?.actor ?? null,
    token_id: caller?.tokenId ?? null,
    ip: normalizeIp(request.ip),
    method: request.method,
    // The pattern (`/v1/users/:name`), never the raw URL: query strings are not recorded.
    route: request.routeOptions.url ?? '(no route)',
    resource_id: typeof fromParams === 'string' ? printable(fromParams.slice(0, 200)) : (created ?? null),
    job_id: jobId,
    status_code: reply.statusCode,
    outcome: outcomeOf(reply.statusCode),
  };
}
