import type { Operation } from './operation.ts';
import { appsOperations } from './apps/index.ts';
import { certificatesOperations } from './certificates/index.ts';
import { containersOperations } from './containers/index.ts';
import { dnsOperations } from './dns/index.ts';
import { hostsOperations } from './hosts/index.ts';
import { proxiesOperations } from './proxies/index.ts';
import { systemOperations } from './system/index.ts';
import { usersOperations } from './users/index.ts';
import { websitesOperations } from './websites/index.ts';
import { databasesOperations } from './databases/index.ts';
import { mailOperations } from './mail/index.ts';

/** Every operation `up` knows, by domain. Adding one here adds its queues, its validation and its docs. */
export const operations: readonly Operation[] = [
  ...systemOperations,
  ...hostsOperations,
  ...usersOperations,
  ...dnsOperations,
  ...proxiesOperations,
  ...websitesOperations,
  ...certificatesOperations,
  ...containersOperations,
  ...appsOperations,
  ...databasesOperations,
  ...mailOperations,
];

const byName = new Map(operations.map((op) => [op.name, op]));

export function findOperation(name: string): Operation | undefined {
  return byName.get(name);
}

export function getOperation(name: string): Operation {
  const op = byName.get(name);
  if (!op) throw new Error(`unknown operation "${name}"`);
  return op;
}

/** Expand names and globs (`system.*`, `*`) into catalogue entries; unknown names are an error. */
export function selectOperations(patterns: readonly string[]): Operation[] {
  const chosen = new Set<Operation>();
  for (const pattern of patterns) {
    const re = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`);
    const matched = operations.filter((op) => re.test(op.name));
    if (matched.length === 0) throw new Error(`no operation matches "${pattern}" (known: ${operations.map((o) => o.name).join(', ')})`);
    matched.forEach((op) => chosen.add(op));
  }
  return [...chosen];
}

const escapeRegExp = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
