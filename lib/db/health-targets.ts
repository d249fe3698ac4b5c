/**
 * What the health daemon checks, read from the desired state: proxy members, websites per
 * member, and each host's security settings (defaults, overridden by host labels). The
 * scheduler builds check messages from these and the observer builds repairs from them.
 */
import type { Knex } from 'knex';
import type { HostRow } from './hosts.ts';
import { proxyMembers, type MemberRow, type ProxyGroupRow, type WebsiteRow } from './web.ts';

export const proxyKey = (group: string, host: string) => `${group}@${host}`;
export const websiteKey = (siteKey: string, host: string) => `${siteKey}@${host}`;

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

/** Every website on every member of its group. */
export async function websiteTargets(db: Knex, members: MemberTarget[]): Promise<(MemberTarget & { site: WebsiteRow })[]> {
  const sites: WebsiteRow[] = await db('websites').orderBy('temp_domain');
  return sites.flatMap((site) => members.filter((m) => m.group.id === site.proxy_group_id).map((m) => ({ ...m, site })));
}

/** The site whose temporary subdomain starts with this key, and its group's member `host`. */
export async function websiteTarget(db: Knex, siteKey: string, host: string): Promise<(MemberTarget & { site: WebsiteRow }) | null> {
  const sites: WebsiteRow[] = await db('websites').where('temp_domain', 'like', `${siteKey}.%`);
  for (const site of sites) {
    const group: ProxyGroupRow | undefined = await db('proxy_groups').where({ id: site.proxy_group_id }).first();
    const member = group && (await proxyMembers(db, group.id)).find((m) => m.name === host);
    if (group && member) return { group, member, site };
  }
  return null;
}

/** Ports a role explains on a host (besides its sshd and its proxy groups' own ports). */
export const ROLE_PORTS: Record<string, number[]> = {
  proxy: [80, 443],
  web: [80, 443],
  dns: [53],
  mail: [25, 110, 143, 465, 587, 993, 995, 4190],
  db: [3306, 5432],
};

export const SECURITY_DEFAULTS = { windowMinutes: 15, failedLogins: 10, homes: '/home' };

const ABSOLUTE_PATH = /^\/[A-Za-z0-9._/-]{0,250}$/;

/**
 * A host's security check settings. Labels: `health.auth-log` (a file instead of the journal),
 * `health.ssh-window-minutes`, `health.ssh-failed-logins`, `health.allowed-ports` (comma list),
 * `health.tenant-homes` (where the up-* homes are), `health.security-updates` (how many may be pending;
 * without it, pending updates are not listed).
 */
export async function securitySettings(db: Knex, host: HostRow) {
  const label = (name: string) => host.labels?.[`health.${name}`]?.trim();
  const count = (name: string, fallback: number, max: number) => {
    const value = Number(label(name));
    return label(name) && Number.isInteger(value) && value >= 0 && value <= max ? value : fallback;
  };
  const path = (name: string) => {
    const value = label(name);
    return value && ABSOLUTE_PATH.test(value) && !value.split('/').includes('..') ? value : null;
  };
  const memberships: { base_dir: string; member_base_dir: string | null; http_port: number; https_port?: number | null }[] = await db('proxy_members as m')
    .join('proxy_groups as g', 'g.id', 'm.group_id')
    .where('m.host_id', host.id)
    .select('g.*', 'm.base_dir as member_base_dir');
  const ports = new Set<number>([host.port, ...host.roles.flatMap((r) => ROLE_PORTS[r] ?? [])]);
  for (const m of memberships) {
    ports.add(m.http_port);
    if (m.https_port) ports.add(m.https_port);
  }
  for (const p of (label('allowed-ports') ?? '').split(',')) if (/^\d{1,5}$/.test(p.trim()) && Number(p) >= 1 && Number(p) <= 65535) ports.add(Number(p));
  const updates = label('security-updates');
  return {
    authLog: path('auth-log'),
    windowMinutes: Math.max(1, count('ssh-window-minutes', SECURITY_DEFAULTS.windowMinutes, 10_080)),
    failedLogins: Math.max(1, count('ssh-failed-logins', SECURITY_DEFAULTS.failedLogins, 1_000_000)),
    allowedPorts: [...ports].sort((a, b) => a - b).slice(0, 1000),
    dirs: {
      homes: path('tenant-homes') ?? SECURITY_DEFAULTS.homes,
      docRoots: [...new Set(memberships.map((m) => `${m.member_base_dir ?? m.base_dir}/www`))].filter((d) => ABSOLUTE_PATH.test(d)).slice(0, 50),
    },
    // Opt-in: listing them costs the host a second of CPU per round, and how many may wait is the site's policy.
    securityUpdates: updates && /^\d{1,6}$/.test(updates) ? Math.min(Number(updates), 100_000) : null,
  };
}
