import { Type } from 'typebox';
import { effectiveLimits, LIMIT_KINDS, SUBID_COUNT, type UserRow, type UserStatus } from './store.ts';

const USER_STATUSES = ['active', 'suspended', 'deleting', 'deleted'] as const satisfies readonly UserStatus[];
import type { Scope, TokenRow } from './token-store.ts';

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const User = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    role: Type.Enum(['admin', 'user'] as const satisfies readonly UserRow['role'][]),
    status: Type.Enum(USER_STATUSES),
    limits: Type.Object(Object.fromEntries(LIMIT_KINDS.map((k) => [k, Type.Integer()]))),
    subids: Type.Union([Type.Object({ start: Type.Integer(), count: Type.Integer() }), Type.Null()]),
    hosts: Type.Optional(Type.Array(Type.String(), { description: 'hosts where the Unix user up-<name> exists' })),
    tokenId: Type.Optional(Nullable(Type.String())),
    scopes: Type.Optional(Type.Array(Type.String())),
    createdAt: Type.String({ format: 'date-time' }),
    suspendedAt: Nullable(Type.String({ format: 'date-time' })),
  },
  {
    examples: [
      {
        id: '0193a5c0-1f2e-7a3b-8c4d-5e6f7a8b9c0d',
        name: 'alice',
        role: 'user',
        status: 'active',
        limits: {
          websites: 10,
          databases: 10,
          mailboxes: 20,
          dnsZones: 5,
          diskGb: 20,
          containers: 0,
          containerMemoryMb: 0,
          containerCpus: 0,
          vms: 0,
          tokens: 10,
          databaseUsers: 20,
          databaseMb: 1024,
          mailDomains: 5,
          mailQuotaMb: 20_480,
        },
        subids: { start: 200000, count: 65536 },
        hosts: ['web1.example.net'],
        createdAt: '2026-12-01T09:00:00.000Z',
        suspendedAt: null,
      },
    ],
  },
);

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

export const Token = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    user: Type.String(),
    scopes: Type.Array(Type.Enum(['read', 'write'] as const satisfies readonly Scope[])),
    allowFrom: Type.Array(Type.String()),
    ratePerMinute: Type.Union([Type.Integer(), Type.Null()]),
    status: Type.Enum(['active', 'expired', 'revoked']),
    expiresAt: Nullable(Type.String({ format: 'date-time' })),
    revokedAt: Nullable(Type.String({ format: 'date-time' })),
    lastUsedAt: Nullable(Type.String({ format: 'date-time' })),
    createdAt: Type.String({ format: 'date-time' }),
    secret: Type.Optional(Type.String({ description: 'only in the answer to create: shown once, stored as a hash' })),
  },
  {
    examples: [
      {
        id: '0193a5c1-2a3b-7c4d-9e5f-6a7b8c9d0e1f',
        name: 'deploy from CI',
        user: 'alice',
        scopes: ['read', 'write'],
        allowFrom: ['198.51.100.0/24'],
        ratePerMinute: null,
        status: 'active',
        expiresAt: '2027-03-01T09:00:00.000Z',
        revokedAt: null,
        lastUsedAt: '2026-12-05T10:00:00.000Z',
        createdAt: '2026-12-01T09:00:00.000Z',
      },
    ],
  },
);

export function tokenView(token: TokenRow & { user_name: string }) {
  const expired = token.expires_at !== null && new Date(token.expires_at).getTime() <= Date.now();
  return {
    id: token.id,
    name: token.name,
    user: token.user_name,
    scopes: token.scopes,
    allowFrom: token.allow_from,
    ratePerMinute: token.rate_per_minute,
    status: token.revoked_at ? ('revoked' as const) : expired ? ('expired' as const) : ('active' as const),
    expiresAt: iso(token.expires_at),
    revokedAt: iso(token.revoked_at),
    lastUsedAt: iso(token.last_used_at),
    createdAt: iso(token.created_at)!,
  };
}
