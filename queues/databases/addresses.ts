/**
 * Where a database user may connect from, as each engine enforces it. The gateway checks a
 * tenant's list with allowFromProblem (400 naming the entry); handlers parse it again before
 * it reaches pg_hba.conf or a MariaDB account.
 */
import { PermanentError } from '../../lib/errors.ts';
import { parseNetwork, type Network } from '../../lib/validate/address.ts';
type DbEngine = 'postgresql' | 'mariadb';

export const ALLOW_FROM_MAX = 20;
/** The shape in messages; the meaning is checked by parseNetwork. */
export const NETWORK_PATTERN = '^[0-9a-fA-F.:]{2,45}/[0-9]{1,3}$';

/** Why one entry cannot be used on this engine, or null. */
export function networkProblem(raw: string, engine: DbEngine): string | null {
  const network = parseNetwork(raw);
  if (typeof network === 'string') return network;
  // MariaDB's host part takes a netmask for IPv4 only; an IPv6 account names one address.
  if (engine === 'mariadb' && network.address.family === 6 && network.prefix !== 128)
    return 'is an IPv6 network, and MariaDB accepts single IPv6 addresses only (/128)';
  return null;
}

/** Canonical networks, or throws with the first entry that is not one (handlers: a second wall). */
export function checkedNetworks(raw: readonly string[], engine: DbEngine): Network[] {
  return raw.map((entry) => {
    const problem = networkProblem(entry, engine);
    if (problem) throw new PermanentError(`allowFrom entry ${JSON.stringify(entry.slice(0, 60))} ${problem}`, { code: 'BAD_NETWORK' });
    return parseNetwork(entry) as Network;
  });
}

/** pg_hba lines for one user: its networks over TLS, then everything else refused. Empty: no lines. */
export function pgHbaLines(user: string, networks: readonly Network[]): string[] {
  if (!networks.length) return [];
  return [...networks.map((n) => `hostssl all "${user}" ${n.text} scram-sha-256`), `hostssl all "${user}" all reject`];
}

/** MariaDB account host parts: `%` (anywhere), else one per network (`a.b.c.d/netmask`, an address). */
export function mariadbHosts(networks: readonly Network[]): string[] {
  if (!networks.length) return ['%'];
  return networks.map((n) => {
    const max = n.address.family === 4 ? 32 : 128;
    if (n.prefix === max) return n.address.text;
    const mask = [0, 1, 2, 3].map((i) => (0xff << (8 - Math.max(0, Math.min(8, n.prefix - 8 * i)))) & 0xff).join('.');
    return `${n.address.text}/${mask}`;
  });
}
