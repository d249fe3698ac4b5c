/**
 * The proxy members the health daemon checks (and the sites and certificates on them), read
 * from the desired state, and the `<resource>@<host>` keys of their checks.
 */
import type { Knex } from 'knex';
import { proxyMembers, type MemberRow, type ProxyGroupRow } from './store.ts';

export const proxyKey = (group: string, host: string) => `${group}@${host}`;

/** `a@b` → [a, b] (host names and group names have no `@`). */
export function splitKey(key: string): [string, string] | null {
  const cut = key.lastIndexOf('@');
  return cut > 0 ? [key.slice(0, cut), key.slice(cut + 1)] : null;
}

export interface MemberTarget {
  group: ProxyGroupRow;
  member: MemberRow;
}

/** Every member of every proxy group, except hosts in maintenance. */
export async function proxyTargets(db: Knex): Promise<MemberTarget[]> {
  const targets: MemberTarget[] = [];
  for (const group of (await db('proxy_groups').orderBy('name')) as ProxyGroupRow[]) {
    for (const member of await proxyMembers(db, group.id)) if (!member.maintenance) targets.push({ group, member });
  }
  return targets;
}
