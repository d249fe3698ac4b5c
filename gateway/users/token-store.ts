import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { newId } from '../../lib/ids.ts';
import type { UserRow } from './store.ts';

export type Scope = 'read' | 'write';

export interface TokenRow {
  id: string;
  user_id: string;
  name: string;
  hash: string;
  scopes: Scope[];
  allow_from: string[];
  rate_per_minute: number | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  created_at: Date;
}

/** `up_<id without dashes>_<43 chars of base64url>`: the id finds the row, the rest proves it. */
const SECRET = /^up_([0-9a-f]{32})_[A-Za-z0-9_-]{43}$/;

/**
 * The secret is 256 random bits, so a fast hash is right: there is nothing to brute-force
 * that a slow KDF would protect (unlike passwords, which people choose).
 */
export const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** The token id a secret claims to be, or null when it is not one of ours. */
export function tokenIdOf(secret: string): string | null {
  const match = SECRET.exec(secret);
  if (!match) return null;
  const h = match[1];
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export interface NewToken {
  userId: string;
  name: string;
  scopes: Scope[];
  allowFrom: string[];
  ratePerMinute: number | null;
  expiresAt: Date | null;
}

/** Stores a new token; the secret is returned here and nowhere else, ever. */
export async function createToken(db: Knex, token: NewToken): Promise<{ row: TokenRow; secret: string }> {
  const id = newId();
  const secret = `up_${id.replace(/-/g, '')}_${randomBytes(32).toString('base64url')}`;
  const [row] = await db('tokens')
    .insert({
      id,
      user_id: token.userId,
      name: token.name,
      hash: hashSecret(secret),
      scopes: token.scopes,
      allow_from: token.allowFrom,
      rate_per_minute: token.ratePerMinute,
      expires_at: token.expiresAt,
    })
    .returning('*');
  return { row, secret };
}

/** The token and its user, for authentication (one query per request: revocation is immediate). */
export async function findTokenWithUser(db: Knex, id: string): Promise<{ token: TokenRow; user: UserRow } | null> {
  const token: TokenRow | undefined = await db('tokens').where({ id }).first();
  if (!token) return null;
  const user: UserRow | undefined = await db('users').where({ id: token.user_id }).first();
  return user ? { token, user } : null;
}

/** A user's tokens that still work: neither revoked nor expired (what the plan's `tokens` limit counts). */
export function workingTokens(db: Knex, userId: string): Knex.QueryBuilder {
  return db('tokens')
    .where({ user_id: userId })
    .whereNull('revoked_at')
    .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', db.fn.now()));
}

export function getToken(db: Knex, id: string): Promise<TokenRow | undefined> {
  return db('tokens').where({ id }).first();
}

export async function revokeToken(db: Knex, id: string): Promise<void> {
  await db('tokens').where({ id }).whereNull('revoked_at').update({ revoked_at: db.fn.now() });
}

export async function revokeUserTokens(db: Knex, userId: string): Promise<void> {
  await db('tokens').where({ user_id: userId }).whereNull('revoked_at').update({ revoked_at: db.fn.now() });
}

/** Marks a token used, at most once a minute, so that reads do not turn into a write each. */
export async function touchToken(db: Knex, id: string): Promise<void> {
  await db('tokens')
    .where({ id })
    .andWhere((q) => q.whereNull('last_used_at').orWhere('last_used_at', '<', db.raw("now() - interval '1 minute'")))
    .update({ last_used_at: db.fn.now() });
}
