import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Knex } from 'knex';
import { BOOTSTRAP_ADMIN_ID } from '../../lib/db/migrations/002-users-hosts.ts';
import { findTokenWithUser, hashSecret, tokenIdOf, touchToken, type Scope } from '../users/token-store.ts';
import { getUserByName, USER_NAME_PATTERN } from '../users/store.ts';
import { addressAllowed, normalizeIp } from './ip-allow.ts';
import { HttpError } from './errors.ts';
import { guardApiRoutes } from './api-routes.ts';
import { FailureThrottle } from './failure-throttle.ts';

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
  /** The admin who made this request as this user (`X-Up-As`); absent when the user made it. */
  impersonator?: { userId: string; actor: string };
}

/** What the token itself allows, beyond who it belongs to: also the bounds of any token it mints. */
export interface Credential {
  scopes: readonly Scope[];
  /** Requests per minute for this token; null: the gateway's default. */
  ratePerMinute: number | null;
  /** When the token stops working; null: never (the bootstrap admin token). */
  expiresAt: Date | null;
  /** Subnets the token works from; empty: anywhere. */
  allowFrom: readonly string[];
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
  /**
   * Failed authentications that pass untouched per source address and per claimed token id
   * within the window (default 20 and 10 in 10 minutes); further failures get 429 with a
   * growing Retry-After. Valid tokens are never refused for them.
   */
  failures?: { perAddress: number; perTokenId: number; windowMs: number };
}

const CALLER = Symbol('up.caller');

/** The authenticated caller, or null before (or without) authentication; `request.caller` throws 401 instead. */
export const callerOf = (request: FastifyRequest): Caller | null =>
  (request as unknown as Record<symbol, Caller | undefined>)[CALLER] ?? null;

/** Equal-length digests for timingSafeEqual; the one-shot hash() costs a fraction of a Hash object. */
const digest = (token: string) => hash('sha256', token, 'buffer');
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const USER_NAME = new RegExp(USER_NAME_PATTERN);
const FULL: Credential = { scopes: ['read', 'write'], ratePerMinute: null, expiresAt: null, allowFrom: [] };

/**
 * Every `/v1` route needs `Authorization: Bearer <token>`: the bootstrap admin token, or a
 * stored token, checked against the database on every request so that revoking a token or
 * suspending a user takes effect at once. It runs for every request the router matched to an
 * API route, whatever the spelling of its URL, before any hook of the route plugins; reading
 * the caller of a request that was not authenticated answers 401. Install this before any
 * other plugin.
 */
export async function bearerAuth(app: FastifyInstance, options: AuthOptions): Promise<void> {
  const admin = digest(options.adminToken);
  const windowMs = options.failures?.windowMs ?? 600_000;
  const byAddress = new FailureThrottle({ free: options.failures?.perAddress ?? 20, windowMs });
  const byTokenId = new FailureThrottle({ free: options.failures?.perTokenId ?? 10, windowMs });
  // Default deny: whatever reads the caller of a request that was not authenticated (a route
  // plugin's hook, a handler) gets a 401, never a TypeError turned 500.
  app.decorateRequest('caller', {
    getter(this: FastifyRequest) {
      const caller = callerOf(this);
      if (!caller) throw new HttpError(401, 'unauthorized', 'this route needs an authenticated caller');
      return caller;
    },
    setter(this: FastifyRequest, caller: Caller) {
      (this as unknown as Record<symbol, Caller>)[CALLER] = caller;
    },
  } as never);
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
    if (token.expires_at && new Date(token.expires_at).getTime() <= Date.now())
      throw new HttpError(401, 'unauthorized', 'this token has expired');
    if (user.status === 'deleted' || user.status === 'deleting')
      throw new HttpError(401, 'unauthorized', 'this token belongs to a deleted user');
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
    request.credential = {
      scopes: token.scopes,
      ratePerMinute: token.rate_per_minute,
      expiresAt: token.expires_at ? new Date(token.expires_at) : null,
      allowFrom: token.allow_from,
    };
    touchToken(options.db, token.id).catch(() => undefined);
  }

  /**
   * `X-Up-As: <user>`: an admin runs the request as that user: their scope, ownership and plan
   * limits; what it creates is theirs, jobs included. The credential stays the admin's token
   * (its scopes, its rate) and the audit names both. Any other caller sending it gets 403, so a
   * tenant cannot probe who exists.
   */
  async function actAs(request: FastifyRequest): Promise<void> {
    const header = request.headers['x-up-as'];
    if (header === undefined) return;
    const admin = request.caller;
    if (admin.role !== 'admin') throw new HttpError(403, 'forbidden', 'X-Up-As: only an admin can act as another user');
    const name = typeof header === 'string' ? header.trim() : '';
    if (!USER_NAME.test(name))
      throw new HttpError(400, 'bad_request', `headers/x-up-as must be one user name matching ${USER_NAME_PATTERN}`);
    const user = await getUserByName(options.db, name);
    if (!user || user.status === 'deleted' || user.status === 'deleting')
      throw new HttpError(400, 'bad_request', `headers/x-up-as: no user named ${name}`);
    if (user.status === 'suspended') throw new HttpError(403, 'suspended', `user ${user.name} is suspended`);
    if (user.id === admin.userId) return;
    request.caller = {
      userId: user.id,
      actor: user.name,
      role: user.role,
      tenant: user.role === 'admin' ? null : user.name,
      tokenId: admin.tokenId,
      impersonator: { userId: admin.userId, actor: admin.actor },
    };
  }

  /**
   * A failed authentication costs the address it came from and the token id it claimed: past
   * their free failures, the answer is 429 with the wait. Only failures are counted and only
   * failures are refused this way: a token that verifies always gets through.
   */
  function throttled(request: FastifyRequest, refusal: HttpError): HttpError {
    const secret = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
    const claimedId = secret ? tokenIdOf(secret) : null;
    const waits = [
      { ms: byAddress.fail(`ip:${normalizeIp(request.ip)}`), what: 'from this address' },
      ...(claimedId ? [{ ms: byTokenId.fail(`token:${claimedId}`), what: `for token ${claimedId}` }] : []),
    ].filter((w) => w.ms > 0);
    if (waits.length === 0) return refusal;
    const longest = waits.reduce((a, b) => (b.ms > a.ms ? b : a));
    const seconds = Math.ceil(longest.ms / 1000);
    return new HttpError(
      429,
      'too_many_requests',
      `${refusal.message}; too many failed authentications ${longest.what}: wait ${seconds} s before the next attempt`,
      undefined,
      { 'retry-after': String(seconds) },
    );
  }

  guardApiRoutes(app, 'onRequest', async (request: FastifyRequest) => {
    try {
      await authenticate(request);
    } catch (error) {
      // A wrong token counts, a missing one does not (it guesses nothing).
      if (error instanceof HttpError && error.statusCode === 401 && request.headers.authorization) throw throttled(request, error);
      throw error;
    }
    await actAs(request);
  });
}
