/**
 * Tenants' Unix users on lab hosts. Namespaces share /etc/passwd, /etc/subuid and /home with
 * this machine, and up creates `up-<tenant>` (tenant.provision) wherever a tenant's site lands:
 * tests remove them before and after, and give their tenants subordinate ids no other test's
 * tenants use (every test database hands out the same first ranges).
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Knex } from 'knex';

const run = promisify(execFile);
const SUBID_COUNT = 65_536;
const FIRST = 2_000_000_000;
const SLOTS = 30_000;

/** Removes up-<tenant>, its group, home, processes and subordinate ids from this machine (whatever exists of them). */
export async function removeUnixUsers(tenants: readonly string[]): Promise<void> {
  for (const tenant of tenants) {
    await run('sh', [
      '-c',
      'pkill -KILL -u "$1"; userdel "$1"; groupdel "$1"; rm -rf -- "/home/$1"; sed -i "/^$1:/d" /etc/subuid /etc/subgid; true',
      'sh',
      `up-${tenant}`,
    ]).catch(() => undefined);
  }
}

/** Gives each tenant a subordinate id range of its own, derived from its name (a test's tenants have names of their own). */
export async function isolateSubids(db: Knex, tenants: readonly string[]): Promise<void> {
  for (const name of tenants) {
    const slot = createHash('sha256').update(name).digest().readUInt32BE(0) % SLOTS;
    await db('users')
      .where({ name })
      .update({ subid_start: FIRST + slot * SUBID_COUNT });
  }
}
