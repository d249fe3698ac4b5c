/**
 * Every host is checked twice a round: is it reachable, with disk, memory and load under their
 * thresholds; and security (failed SSH logins, failed mail logins per account, unexplained listeners, unsafe files in tenant
 * homes and document roots, pending security updates). Unsafe modes are repaired.
 */
import type { Knex } from 'knex';
import { healthCheckHost } from '../../queues/hosts/health.ts';
import { healthCheckSecurity, healthRepairSecurity } from '../../queues/hosts/security.ts';
import type { CheckKind, RoleSetup } from '../domain.ts';
import { FAIL_AFTER, hasCause, ON_HOST } from '../health/policy.ts';
import { plan } from '../plan.ts';
import { getHostByName, hostRefOf, type HostRow } from './store.ts';

export const HOST_THRESHOLDS = { diskPercent: 90, memoryPercent: 95, loadPerCpu: 4 };

/** Defaults, overridden per host by labels such as `health.load-per-cpu=8`. */
export function thresholdsFor(host: Pick<HostRow, 'labels'>): typeof HOST_THRESHOLDS {
  const label = (name: string, fallback: number, max: number) => {
    const value = Number(host.labels?.[`health.${name}`]);
    return Number.isFinite(value) && value > 0 && value <= max ? value : fallback;
  };
  return {
    diskPercent: label('disk-percent', HOST_THRESHOLDS.diskPercent, 100),
    memoryPercent: label('memory-percent', HOST_THRESHOLDS.memoryPercent, 100),
    loadPerCpu: label('load-per-cpu', HOST_THRESHOLDS.loadPerCpu, 1000),
  };
}

export const SECURITY_DEFAULTS = { windowMinutes: 15, failedLogins: 10, homes: '/home', mailFailedLogins: 10 };

const ABSOLUTE_PATH = /^\/[A-Za-z0-9._/-]{0,250}$/;

/** A `health.<name>` label that holds an absolute path without `..`, or null. */
function pathLabel(host: Pick<HostRow, 'labels'>, name: string): string | null {
  const value = host.labels?.[`health.${name}`]?.trim();
  return value && ABSOLUTE_PATH.test(value) && !value.split('/').includes('..') ? value : null;
}

/**
 * A host's security check settings. Labels: `health.auth-log` (a file instead of the journal),
 * `health.ssh-window-minutes`, `health.ssh-failed-logins`, `health.allowed-ports` (comma list),
 * `health.tenant-homes` (where the up-* homes are), `health.security-updates` (how many may be pending;
 * without it, pending updates are not listed); on a mail host, `health.mail-window-minutes` and
 * `health.mail-failed-logins` (failed logins of one mail account, IMAP or SMTP AUTH).
 */
export async function securitySettings(db: Knex, host: HostRow, roles: readonly RoleSetup[]) {
  const label = (name: string) => host.labels?.[`health.${name}`]?.trim();
  const count = (name: string, fallback: number, max: number) => {
    const value = Number(label(name));
    return label(name) && Number.isInteger(value) && value >= 0 && value <= max ? value : fallback;
  };
  const memberships = await membershipsOf(db, host);
  const hostRoles = roles.filter((r) => host.roles.includes(r.role));
  const ports = new Set<number>([host.port, ...hostRoles.flatMap((r) => r.ports ?? [])]);
  for (const role of hostRoles) for (const port of (await role.portsOf?.(db, host)) ?? []) ports.add(port);
  for (const m of memberships) {
    ports.add(m.http_port);
    if (m.https_port) ports.add(m.https_port);
  }
  for (const p of (label('allowed-ports') ?? '').split(','))
    if (/^\d{1,5}$/.test(p.trim()) && Number(p) >= 1 && Number(p) <= 65535) ports.add(Number(p));
  const mailAuthLog = hostRoles.find((r) => r.mailAuthLog)?.mailAuthLog;
  const updates = label('security-updates');
  return {
    authLog: pathLabel(host, 'auth-log'),
    windowMinutes: Math.max(1, count('ssh-window-minutes', SECURITY_DEFAULTS.windowMinutes, 10_080)),
    failedLogins: Math.max(1, count('ssh-failed-logins', SECURITY_DEFAULTS.failedLogins, 1_000_000)),
    mailAuth: mailAuthLog
      ? {
          log: mailAuthLog,
          windowMinutes: Math.max(1, count('mail-window-minutes', SECURITY_DEFAULTS.windowMinutes, 10_080)),
          failedLogins: Math.max(1, count('mail-failed-logins', SECURITY_DEFAULTS.mailFailedLogins, 1_000_000)),
        }
      : null,
    allowedPorts: [...ports].sort((a, b) => a - b).slice(0, 1000),
    dirs: dirsOf(host, memberships),
    // Opt-in: listing them costs the host a second of CPU per round, and how many may wait is the site's policy.
    securityUpdates: updates && /^\d{1,6}$/.test(updates) ? Math.min(Number(updates), 100_000) : null,
  };
}

type Membership = { base_dir: string; member_base_dir: string | null; http_port: number; https_port?: number | null };

/** The proxy groups the host is a member of, with its own base directory. */
function membershipsOf(db: Knex, host: HostRow): Promise<Membership[]> {
  return db('proxy_members as m')
    .join('proxy_groups as g', 'g.id', 'm.group_id')
    .where('m.host_id', host.id)
    .select('g.*', 'm.base_dir as member_base_dir');
}

/** Where tenants' files are on the host: their homes and the document roots of its proxy groups. */
function dirsOf(host: HostRow, memberships: readonly Membership[]) {
  const homes = pathLabel(host, 'tenant-homes') ?? SECURITY_DEFAULTS.homes;
  const docRoots = [...new Set(memberships.map((m) => `${m.member_base_dir ?? m.base_dir}/www`))]
    .filter((d) => ABSOLUTE_PATH.test(d))
    .slice(0, 50);
  return { homes, docRoots };
}

/** What the security repair fixes modes in. */
export const scannedDirs = async (db: Knex, host: HostRow) => dirsOf(host, await membershipsOf(db, host));

/** Hosts checked this round: not in maintenance. */
const checkedHosts = (db: Knex): Promise<HostRow[]> => db('hosts').where({ maintenance: false }).orderBy('name');

/** Every host, in maintenance or not: still there, so its health is kept. */
async function hostNames(db: Knex): Promise<Set<string>> {
  return new Set((await db('hosts').select('name')).map((h: { name: string }) => h.name));
}

export const hostChecks: CheckKind = {
  type: 'host',
  op: healthCheckHost,
  async plan(db, round) {
    const plans = [];
    for (const host of await checkedHosts(db)) {
      plans.push(
        plan({
          op: healthCheckHost,
          payload: { resource: { type: 'host', key: host.name }, host: await round.refOf(host), thresholds: thresholdsFor(host) },
          target: host.name,
        }),
      );
    }
    return plans;
  },
  keys: hostNames,
  policy: { failAfter: FAIL_AFTER },
};

export const securityChecks: CheckKind = {
  type: 'security',
  op: healthCheckSecurity,
  async plan(db, round) {
    const plans = [];
    for (const host of await checkedHosts(db)) {
      plans.push(
        plan({
          op: healthCheckSecurity,
          payload: {
            resource: { type: 'security', key: host.name },
            host: await round.refOf(host),
            ...(await securitySettings(db, host, round.roles)),
          },
          target: host.name,
        }),
      );
    }
    return plans;
  },
  keys: hostNames,
  // A security finding is an alarm at once (no blip hides a break-in attempt); unsafe modes are repaired too.
  policy: {
    failAfter: 1,
    causedElsewhere: ON_HOST,
    repair: {
      after: 1,
      async plan(db, check) {
        if (!hasCause(check, 'unsafe-files')) return null;
        const host = await getHostByName(db, check.resource.key);
        if (!host) return null;
        const dirs = await scannedDirs(db, host);
        return plan({
          op: healthRepairSecurity,
          payload: { host: await hostRefOf(db, host), dirs },
          target: `security@${host.name}`,
          ownerId: null,
        });
      },
    },
  },
};
