import type { Static } from 'typebox';
import { sh, script, type Command } from '../../../lib/exec/index.ts';
import type { PendingUpdate } from '../../../queues/hosts/update.ts';

type Pending = Static<typeof PendingUpdate>;

const APT_OPTIONS = ['-o', 'DPkg::Lock::Timeout=120', '-o', 'Dpkg::Options::=--force-confold', '-o', 'Dpkg::Options::=--force-confdef'];

/** `apt list` warns that its output is not stable; in the C locale its format has not changed in years. */
export const listUpgradable = (): Command => sh`LC_ALL=C apt list --upgradable 2>/dev/null`;

export const refreshLists = (): Command => script(sh`export DEBIAN_FRONTEND=noninteractive`, sh`apt-get ${APT_OPTIONS} update -qq`);

export const upgradeAll = (): Command => script(sh`export DEBIAN_FRONTEND=noninteractive`, sh`apt-get ${APT_OPTIONS} upgrade -y`);

const LINE = /^([a-z0-9][a-z0-9+.-]*)\/(\S+) (\S+) \S+(?: \[upgradable from: ([^\]]+)\])?/;

/** Lines like `apt/bookworm-security 2.6.2 amd64 [upgradable from: 2.6.1]`; others are ignored. */
export function parseUpgradable(output: string): Pending[] {
  const pending: Pending[] = [];
  for (const line of output.split('\n')) {
    const match = LINE.exec(line.trim());
    if (!match) continue;
    const [, name, origin, to, from] = match;
    pending.push({ name, origin, to, from: from ?? null, security: origin.split(',').some((o) => o.includes('-security')) });
  }
  return pending;
}

/** What went away from the pending list between two listings: upgraded, to the version it offered. */
export function upgradedBetween(before: readonly Pending[], after: readonly Pending[]): Pending[] {
  const still = new Map(after.map((p) => [p.name, p.to]));
  return before.filter((p) => still.get(p.name) !== p.to);
}
