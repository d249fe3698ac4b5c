/**
 * Lab target hosts for tests: network namespaces with their own sshd (test/lab/hosts.sh).
 * Needs root; a lab that cannot start is an error, never a skip.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Knex } from 'knex';
import type { HostSpec } from '../../lib/exec/ssh-pool.ts';

const HOSTS_SH = fileURLToPath(new URL('../lab/hosts.sh', import.meta.url));
const run = promisify(execFile);

export interface LabHost {
  name: string;
  namespace: string;
  address: string;
  port: number;
  user: string;
  hostKeySha256: string;
  privateKeyFile: string;
  /** A directory only this host's tests write to (the filesystem is shared). */
  dir: string;
  logFile: string;
  pidFile: string;
}

/** Labs that may run at the same time (test files, the bench) need distinct values of all three. */
export interface LabOptions {
  prefix?: string;
  /** First three octets of a /24, e.g. "10.77.0". */
  subnet?: string;
  bridge?: string;
  /** Paths each host gets a private copy of (hosts.sh UP_LAB_PRIVATE), for daemons with fixed state paths. */
  privateDirs?: readonly string[];
}

export interface Lab {
  hosts: LabHost[];
  /** An address in the lab subnet where nothing answers. */
  deadAddress: string;
  down(): Promise<void>;
}

export const labAvailable = process.getuid?.() === 0;

export async function labHosts(n: number, options: LabOptions = {}): Promise<Lab> {
  const prefix = options.prefix ?? 'up-lab';
  const subnet = options.subnet ?? '10.77.0';
  const env = {
    ...process.env,
    UP_LAB_SUBNET: subnet,
    UP_LAB_BRIDGE: options.bridge ?? 'uplab0',
    UP_LAB_PRIVATE: (options.privateDirs ?? []).join(' '),
  };
  const hostsSh = (...args: string[]) => run('sh', [HOSTS_SH, ...args], { env, maxBuffer: 1 << 20 });
  let stdout: string;
  try {
    ({ stdout } = await hostsSh('up', String(n), prefix));
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`the lab did not start (hosts.sh up ${n} ${prefix}): ${stderr || (error as Error).message}`);
  }
  const hosts = JSON.parse(stdout) as LabHost[];
  return {
    hosts,
    deadAddress: `${subnet}.250`,
    down: async () => {
      await hostsSh('down', prefix);
    },
  };
}

/** The executor's view of a lab host (the caller reads the key file, as handlers do). */
export function hostSpec(host: LabHost, extra: Partial<HostSpec> = {}): HostSpec {
  return {
    name: host.name,
    address: host.address,
    port: host.port,
    username: host.user,
    privateKey: readFileSync(host.privateKeyFile),
    hostKeySha256: host.hostKeySha256,
    ...extra,
  };
}

/** Registers a lab host with `up` as the admin's `up hosts add` would, with these roles (and labels). */
export async function registerLabHost(db: Knex, host: LabHost, roles: string[], labels?: Record<string, string>): Promise<void> {
  await db('hosts').insert({
    id: crypto.randomUUID(),
    name: host.name,
    address: host.address,
    port: host.port,
    ssh_user: host.user,
    host_key_sha256: host.hostKeySha256,
    roles,
    ...(labels ? { labels: JSON.stringify(labels) } : {}),
  });
}

/** How many logins this host's sshd has accepted so far. */
export function acceptedLogins(host: LabHost, from?: string): number {
  const log = readFileSync(host.logFile, 'utf8');
  return log.split('\n').filter((line) => line.startsWith('Accepted publickey') && (!from || line.includes(`from ${from} `))).length;
}
