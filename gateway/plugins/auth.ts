import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Knex } from 'knex';
import { BOOTSTRAP_ADMIN_ID } from '../../lib/db/migrations/002-users-hosts.ts';
import { findTokenWithUser, hashSecret, tokenIdOf, touchToken, type Scope } from '../../lib/db/tokens.ts';
import { addressAllowed, normalizeIp } from './ip-allow.ts';
import { HttpError } from './errors.ts';

/** Who is calling. */
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

/** What the token itself allows, beyond who it belongs to. */
export interface Credential {
  scopes: readonly Scope[];
  /** Requests per minute for this token; null: the gateway's default. */
  ratePerMinute: number | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller;
    credential: Credential;
  }
}

export interface AuthOptions {
  adminToken: string;
  db: Knex;
  /** Failed authentications per source address before it gets 429 (default 20 in 10 minutes). */
  badTokens?: { max: number; windowMs: number };
}

/** Equal-length digests for timingSafeEqual; the one-shot hash() costs a fraction of a Hash object. */
const digest = (token: string) => hash('sha256', token, 'buffer');
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const FULL: Credential = { scopes: ['read', 'write'], ratePerMinute: null };

/**
 * Every `/v1` route needs `Authorization: Bearer <token>`: the bootstrap admin token, or a
 * stored token, checked against the database on every request so that revoking a token or
 * suspending a user takes effect at once.
 */
export async function bearerAuth(app: FastifyInstance, options: AuthOptions): Promise<void> {
  const admin = digest(options.adminToken);
  const failures = new FailureCounter(options.badTokens?.max ?? 20, options.badTokens?.windowMs ?? 600_000);
  app.decorateRequest('caller', null as unknown as Caller);
  app.decorateRequest('credential', null as unknown as Credential);

  async function authenticate(request: FastifyRequest): Promise<void> {
    const header = request.headers.authorization;
    const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header ?? '');
    if (!match) throw new HttpError(401, 'unauthorized', 'missing or malformed Authorization: Bearer <token> header');
    const secret = match[1];
    if (timingSafeEqual(digest(secret), admin)) {
      request.caller = { userId: BOOTSTRAP_ADMIN_ID, actor: 'admin', role: 'admin', tenant: null, tokenId: null };
      request.credential = FULL;
      return;
    }
    const id = tokenIdOf(secret);
    const found = id ? await findTokenWithUser(options.db, id) : null;
    if (!found || !timingSafeEqual(Buffer.from(hashSecret(secret), 'hex'), Buffer.from(found.token.hash, 'hex'))) {
      throw new HttpError(401, 'unauthorized', 'invalid token');
    }
    const { token, user } = found;
    if (token.revoked_at) throw new HttpError(401, 'unauthorized', 'this token was revoked');
    if (token.expires_at && new Date(token.expires_at).getTime() <= Date.now()) throw new HttpError(401, 'unauthorized', 'this token has expired');
    if (user.status === 'deleted' || user.status === 'deleting') throw new HttpError(401, 'unauthorized', 'this token belongs to a deleted user');
    if (user.status === 'suspended') throw new HttpError(403, 'suspended', `user ${user.name} is suspended; ask an administrator`);
    if (!addressAllowed(token.allow_from, request.ip)) {
      throw new HttpError(403, 'forbidden', `this token is not allowed from ${normalizeIp(request.ip)}`);
    }
    if (!READ_METHODS.has(request.method) && !token.scopes.includes('write')) {
      throw new HttpError(403, 'forbidden', `this token has the scope ${token.scopes.join(', ')}; ${request.method} needs write`);
    }
    request.caller = {
      userId: user.id,
      actor: user.name,
      role: user.role,
      tenant: user.role === 'admin' ? null : user.name,
      tokenId: token.id,
    };
    request.credential = { scopes: token.scopes, ratePerMinute: token.rate_per_minute };
    touchToken(options.db, token.id).catch(() => undefined);
  }

  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (!request.url.startsWith('/v1/') && request.url !== '/v1') return;
    const ip = normalizeIp(request.ip);
    if (failures.blocked(ip)) {
      throw new HttpError(429, 'too_many_requests', 'too many failed authentications from this address; wait and try again');
    }
    try {
      await authenticate(request);
    } catch (error) {
      // A wrong token counts, a missing one does not (it guesses nothing).
      if (error instanceof HttpError && error.statusCode === 401 && request.headers.authorization) failures.add(ip);
      throw error;
    }
  });
}

/**
 * Failed authentications per source address in a sliding window: guessing tokens costs
 * the guesser, and the map cannot grow without bound.
 */
class FailureCounter {
  private readonly seen = new Map<string, number[]>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly maxAddresses = 10_000,
  ) {}

  blocked(ip: string): boolean {
    return this.recent(ip).length >= this.max;
  }

  add(ip: string): void {
    const times = this.recent(ip);
    times.push(Date.now());
    this.seen.delete(ip); // re-insert: the map's order is least recently failed first
    this.seen.set(ip, times);
    if (this.seen.size > this.maxAddresses) this.seen.delete(this.seen.keys().next().value!);
  }

  private recent(ip: string): number[] {
    const since = Date.now() - this.windowMs;
    return (this.seen.get(ip) ?? []).filter((t) => t > since);
  }
}
