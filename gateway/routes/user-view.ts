import { Type } from 'typebox';
import { effectiveLimits, LIMIT_KINDS, SUBID_COUNT, type UserRow } from '../../lib/db/users.ts';
import type { TokenRow } from '../../lib/db/tokens.ts';

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const User = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  role: Type.String({ description: 'admin or user' }),
  status: Type.String({ description: 'active, suspended, deleting or deleted' }),
  limits: Type.Object(Object.fromEntries(LIMIT_KINDS.map((k) => [k, Type.Integer()]))),
  subids: Type.Union([Type.Object({ start: Type.Integer(), count: Type.Integer() }), Type.Null()]),
  hosts: Type.Optional(Type.Array(Type.String(), { description: 'hosts where the Unix user up-<name> exists' })),
  tokenId: Type.Optional(Nullable(Type.String())),
  scopes: Type.Optional(Type.Array(Type.String())),
  createdAt: Type.String({ format: 'date-time' }),
  suspendedAt: Nullable(Type.String({ format: 'date-time' })),
});

export function userView(user: UserRow, hosts?: string[]) {
  return {
    id: user.id,
    name: user.name,
    role: user.role,
    status: user.status,
    limits: effectiveLimits(user),
    subids: user.subid_start === null ? null : { start: Number(user.subid_start), count: SUBID_COUNT },
    ...(hosts ? { hosts } : {}),
    createdAt: iso(user.created_at)!,
    suspendedAt: iso(user.suspended_at),
  };
}

export const Token = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  user: Type.String(),
  scopes: Type.Array(Type.String()),
  allowFrom: Type.Array(Type.String()),
  ratePerMinute: Type.Union([Type.Integer(), Type.Null()]),
  status: Type.String({ description: 'active, expired or revoked' }),
  expiresAt: Nullable(Type.String({ format: 'date-time' })),
  revokedAt: Nullable(Type.String({ format: 'date-time' })),
  lastUsedAt: Nullable(Type.String({ format: 'date-time' })),
  createdAt: Type.String({ format: 'date-time' }),
  secret: Type.Optional(Type.String({ description: 'only in the answer to create: shown once, stored as a hash' })),
});

export function tokenView(token: TokenRow & { user_name: string }) {
  const expired = token.expires_at !== null && new Date(token.expires_at).getTime() <= Date.now();
  return {
    id: token.id,
    name: token.name,
    user: token.user_name,
    scopes: token.scopes,
    allowFrom: token.allow_from,
    ratePerMinute: token.rate_per_minute,
    status: token.revoked_at ? 'revoked' : expired ? 'expired' : 'active',
    expiresAt: iso(token.expires_at),
    revokedAt: iso(token.revoked_at),
    lastUsedAt: iso(token.last_used_at),
    createdAt: iso(token.created_at)!,
  };
}
