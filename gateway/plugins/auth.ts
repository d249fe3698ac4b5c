import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BOOTSTRAP_ADMIN_ID } from '../../lib/db/migrations/002-users-hosts.ts';
import { HttpError } from './errors.ts';

/** Who is calling. Users and tenants come with their own issue; today there is the admin. */
export interface Caller {
  /** users.id: owner of what the caller creates. */
  userId: string;
  /** Recorded as the job's actor and in the audit: the user's name. */
  actor: string;
  role: 'admin' | 'user';
  /** The tenant name for users (their Unix user is `up-<tenant>`); null for admins. */
  tenant: string | null;
  /** The token used, when it is a stored one (null for the bootstrap admin token). */
  tokenId: string | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller;
  }
}

const digest = (token: string) => createHash('sha256').update(token).digest();

/** Every `/v1` route needs `Authorization: Bearer <token>`. */
export function bearerAuth(app: FastifyInstance, options: { adminToken: string }): void {
  const admin = digest(options.adminToken);
  app.decorateRequest('caller', null as unknown as Caller);
  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (!request.url.startsWith('/v1/') && request.url !== '/v1') return;
    const header = request.headers.authorization;
    const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header ?? '');
    if (!match) throw new HttpError(401, 'unauthorized', 'missing or malformed Authorization: Bearer <token> header');
    if (!timingSafeEqual(digest(match[1]), admin)) throw new HttpError(401, 'unauthorized', 'invalid token');
    request.caller = { userId: BOOTSTRAP_ADMIN_ID, actor: 'admin', role: 'admin', tenant: null, tokenId: null };
  });
}
