/**
 * What access a MariaDB user has to a schema, read from its accounts' privileges
 * (information_schema.SCHEMA_PRIVILEGES): `rw` when every account holds every schema-level
 * privilege the server has (ALL PRIVILEGES) without GRANT OPTION, `ro` when every account holds
 * exactly SELECT and SHOW VIEW; anything else is spelled out, so that a privilege added or taken
 * by hand, or an account of the user left without its grant, shows as drift.
 */
import type { Grant } from '../../queues/databases/ops.ts';

export interface SchemaPrivilege {
  user: string;
  host: string;
  privilege: string;
  grantable: boolean;
}

const RO = ['SELECT', 'SHOW VIEW'];

/** `'user'@'host'` as SCHEMA_PRIVILEGES names a grantee. */
export function parseGrantee(grantee: string): { user: string; host: string } | null {
  const match = /^'([^']*)'@'([^']*)'$/.exec(grantee);
  return match ? { user: match[1], host: match[2] } : null;
}

function accessOf(privileges: readonly SchemaPrivilege[], schemaLevel: number): Grant['access'] | string {
  const names = [...new Set(privileges.filter((p) => p.privilege !== 'GRANT OPTION').map((p) => p.privilege))].sort();
  const grantable = privileges.some((p) => p.grantable || p.privilege === 'GRANT OPTION');
  if (!names.length) return grantable ? 'GRANT OPTION' : 'no';
  const described = `${names.join(', ')}${grantable ? ' WITH GRANT OPTION' : ''}`;
  if (grantable) return described;
  if (names.length === schemaLevel) return 'rw';
  if (names.length === RO.length && RO.every((p) => names.includes(p))) return 'ro';
  return described;
}

/**
 * Each user with any privilege on the schema → its access (`rw`, `ro`, or what it has instead);
 * accounts are `user@host` rows of mysql.user, so an account of a grantee without privileges counts.
 */
export function accessByUser(
  privileges: readonly SchemaPrivilege[],
  accounts: readonly { user: string; host: string }[],
  schemaLevel: number,
): Map<string, string> {
  const access = new Map<string, string>();
  for (const user of new Set(privileges.map((p) => p.user))) {
    const hosts = new Set([...accounts.filter((a) => a.user === user), ...privileges.filter((p) => p.user === user)].map((a) => a.host));
    const each = [...hosts].sort().map((host) => ({
      host,
      access: accessOf(
        privileges.filter((p) => p.user === user && p.host === host),
        schemaLevel,
      ),
    }));
    const same = each.every((e) => e.access === each[0].access);
    access.set(user, same ? each[0].access : each.map((e) => `${e.access} from '${e.host}'`).join('; '));
  }
  return access;
}
