import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Knex } from 'knex';
import { Batcher } from '../../lib/batcher.ts';
import { isDatabaseUnavailable } from '../../lib/db/connect.ts';
import { outcomeOf, recordAudits } from '../../lib/db/audit.ts';
import { describe } from '../../queues/errors.ts';
import { normalizeIp } from './ip-allow.ts';

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const JOB_LOCATION = new RegExp(`^/v1/jobs/(${UUID})$`);
const RESOURCE_LOCATION = /^\/v1\/(?:[a-z-]+\/)+([A-Za-z0-9._-]{1,200})$/;

export interface AuditTrail {
  /** Waits for the entries still being written (shutdown, tests). */
  drain(): Promise<void>;
}

/**
 * Records every mutating `/v1` request after its response: who (user, token), from where,
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
  app.addHook('onResponse', async (request, reply) => {
    if (!MUTATING.has(request.method) || !request.url.startsWith('/v1/')) return;
    const write = entries.add(entryOf(request, reply))
      .catch((error) => request.log.warn({ err: describe(error) }, 'could not write the audit entry'))
      .finally(() => pending.delete(write));
    pending.add(write);
    await write;
  });
  const trail: AuditTrail = { drain: async () => void (await Promise.all([...pending])) };
  app.addHook('onClose', () => trail.drain());
  return trail;
}

function entryOf(request: FastifyRequest, reply: FastifyReply) {
  const location = String(reply.getHeader('location') ?? '');
  const jobId = JOB_LOCATION.exec(location)?.[1] ?? null;
  const params = (request.params ?? {}) as Record<string, unknown>;
  const idParam = request.routeOptions.config?.owned?.idParam;
  const fromParams = [idParam, 'id', 'name'].map((p) => (p ? params[p] : undefined)).find((v) => typeof v === 'string');
  const created = !jobId ? RESOURCE_LOCATION.exec(location)?.[1] : undefined;
  const caller = request.caller;
  return {
    user_id: caller?.userId ?? null,
    actor: caller?.actor ?? null,
    token_id: caller?.tokenId ?? null,
    ip: normalizeIp(request.ip),
    method: request.method,
    // The pattern (`/v1/users/:name`), never the raw URL: query strings are not recorded.
    route: request.routeOptions.url ?? '(no route)',
    resource_id: typeof fromParams === 'string' ? fromParams.slice(0, 200) : (created ?? null),
    job_id: jobId,
    status_code: reply.statusCode,
    outcome: outcomeOf(reply.statusCode),
  };
}
