import type { Knex } from 'knex';
import { newId } from '../../lib/ids.ts';
import type { OwnedKind } from '../domain.ts';

/** A user's name becomes the Unix user `up-<name>` on every host it uses. */
export const USER_NAME_PATTERN = '^[a-z][a-z0-9]{1,30}$';

/**
 * What a plan limits; each later resource kind counts itself against one of these. `tokens`:
 * API tokens that still work (neither revoked nor expired).
 */
export const LIMIT_KINDS = [
  'websites',
  'databases',
  'mailboxes',
  'dnsZones',
  'diskGb',
  'containers',
  'containerMemoryMb',
  'containerCpus',
  'vms',
  'tokens',
  'databaseUsers',
  'databaseMb',
  'mailDomains',
  'mailQuotaMb',
] as const;
export type LimitKind = (typeof LIMIT_KINDS)[number];
export type Limits = Record<LimitKind, number>;

/** The plan a user gets unless the admin sets other limits. */
export const DEFAULT_LIMITS: Limits = {
  websites: 10,
  databases: 10,
  mailboxes: 50,
  dnsZones: 10,
  diskGb: 10,
  containers: 5,
  /** The sum of the memory limits of the user's containers, MiB. */
  containerMemoryMb: 2048,
  /** The sum of their CPU limits. */
  containerCpus: 4,
  vms: 2,
  tokens: 50,
  databaseUsers: 20,
  databaseMb: 1024,
  mailDomains: 10,
  mailQuotaMb: 51_200,
};

/** Every tenant gets this many subordinate uids and gids (one user namespace's worth). */
export const SUBID_COUNT = 65536;
/** Tenant ranges start above the ids useradd would hand out (SUB_UID_MIN..SUB_UID_MAX) by default. */
export const SUBID_BASE = 1_000_000_000;

export type UserStatus = 'active' | 'suspended' | 'deleting' | 'deleted';

export interface UserRow {
  id: string;
  name: string;
  role: 'admin' | 'user';
  status: UserStatus;
  limits: Partial<Limits>;
  subid_start: string | number | null;
  suspended_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export const effectiveLimits = (user: Pick<UserRow, 'limits'>): Limits => ({ ...DEFAULT_LIMITS, ...(user.limits ?? {}) });

export function getUserByName(db: Knex, name: string): Promise<UserRow | undefined> {
  return db('users').where({ name }).first();
}

export function getUserById(db: Knex, id: string): Promise<UserRow | undefined> {
  return db('users').where({ id }).first();
}

/** The users, by name: a query, to page (gateway/pages.ts `keyset`). */
export function listUsers(db: Knex, options: { includeDeleted: boolean }): Knex.QueryBuilder<UserRow, UserRow[]> {
  const query = db<UserRow>('users').orderBy('name');
  if (!options.includeDeleted) query.whereNot('status', 'deleted');
  return query;
}

/**
 * Creates a user with the next free subordinate id range. Returns null when the name is
 * taken (also by a deleted user: names are Unix users and stay in old jobs and audit rows).
 */
export async function createUser(
  db: Knex,
  user: { name: string; role: 'admin' | 'user'; limits?: Partial<Limits> },
): Promise<UserRow | null> {
  return db.transaction(async (trx) => {
    // One creator at a time takes the next range; the unique index is the backstop.
    await trx.raw('LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE');
    if (await trx('users').where({ name: user.name }).first()) return null;
    const top = await trx('users').max<{ max: string | null }>({ max: 'subid_start' }).first();
    const next = top?.max === null || top?.max === undefined ? SUBID_BASE : Number(top.max) + SUBID_COUNT;
    const [row] = await trx('users')
      .insert({ id: newId(), name: user.name, role: user.role, limits: JSON.stringify(user.limits ?? {}), subid_start: next })
      .returning('*');
    return row as UserRow;
  });
}

export async function setUserStatus(db: Knex, id: string, status: UserStatus): Promise<void> {
  await db('users')
    .where({ id })
    .update({ status, suspended_at: status === 'suspended' ? db.fn.now() : null, updated_at: db.fn.now() });
}

export async function setUserLimits(db: Knex, id: string, limits: Partial<Limits>): Promise<void> {
  await db('users')
    .where({ id })
    .update({ limits: JSON.stringify(limits), updated_at: db.fn.now() });
}

/** How many resources of each kind the user still owns (only kinds with some). */
export async function ownedResourceCounts(db: Knex, userId: string, kinds: readonly OwnedKind[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const kind of kinds) {
    const row = await db(kind.table)
      .where(kind.ownerColumn ?? 'owner_id', userId)
      .count<{ count: string }[]>({ count: '*' })
      .first();
    const n = Number(row?.count ?? 0);
    if (n > 0) counts[kind.kind] = n;
  }
  return counts;
}

/** Hosts where the user's Unix user exists (kept by the tenant.* observers). */
export async function tenantHosts(db: Knex, userId: string): Promise<string[]> {
  const rows: { host: string }[] = await db('tenant_hosts').where({ user_id: userId }).orderBy('host');
  return rows.map((r) => r.host);
}
