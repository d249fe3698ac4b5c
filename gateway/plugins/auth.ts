import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from './errors.ts';

/** Who is calling. Users and tenants come with their own issue; today there is the admin. */
export interface Caller {
  actor: string;
  role: 'admin' | 'user';
  tenant: string | null;
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
    request.caller = { actor: 'admin', role: 'admin', tenant: null };
  });
}
