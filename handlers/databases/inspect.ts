/**
 * What a database looks like on its server, read in one round trip: whether it exists, who
 * owns it, who holds which access, which users exist, and its size. The health check compares
 * this with what up stored.
 */
import type { Executor } from '../../lib/exec/index.ts';
import type { DbServerRef, Grant } from '../../queues/databases/ops.ts';
import { accessByUser, parseGrantee } from './mariadb-access.ts';
import { checkedName, mariadb, ownerRole, psql, psqlSet, quoteText } from './sql.ts';

export interface Observed {
  exists: boolean;
  ownerOk: boolean;
  /** user → access as the server has it: `rw`, `ro`, or (MariaDB) the privileges it has instead. */
  grants: Map<string, string>;
  users: Set<string>;
  sizeBytes: number;
}

export async function inspectDatabase(
  exec: Executor,
  server: DbServerRef,
  name: string,
  expected: readonly Grant[],
  signal?: AbortSignal,
): Promise<Observed> {
  const db = checkedName(name, server.engine, 'database');
  const names = expected.map((g) => checkedName(g.user, server.engine, 'user'));
  const grants = new Map<string, string>();
  if (server.engine === 'postgresql') {
    const lines = await psql(
      exec,
      server,
      'postgres',
      `${psqlSet('db', db)}
${psqlSet('owner', ownerRole(db))}
${psqlSet('users', names.join(','))}
SELECT 'exists ' || count(*) FROM pg_database WHERE datname = :'db';
SELECT 'owner ' || pg_get_userbyid(datdba) FROM pg_database WHERE datname = :'db';
SELECT 'size ' || pg_database_size(datname) FROM pg_database WHERE datname = :'db';
SELECT DISTINCT 'connect ' || r.rolname FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a JOIN pg_roles r ON r.oid = a.grantee
  WHERE d.datname = :'db' AND a.privilege_type = 'CONNECT' AND r.rolname <> :'owner';
SELECT 'member ' || m.rolname FROM pg_auth_members am JOIN pg_roles o ON o.oid = am.roleid JOIN pg_roles m ON m.oid = am.member WHERE o.rolname = :'owner';
SELECT 'user ' || rolname FROM pg_roles WHERE rolname = ANY (string_to_array(:'users', ','));
`,
      signal,
    );
    const members = new Set(lines.filter((l) => l.startsWith('member ')).map((l) => l.slice(7)));
    for (const l of lines.filter((l) => l.startsWith('connect '))) grants.set(l.slice(8), members.has(l.slice(8)) ? 'rw' : 'ro');
    const field = (key: string) => lines.find((l) => l.startsWith(`${key} `))?.slice(key.length + 1);
    return {
      exists: field('exists') === '1',
      ownerOk: field('owner') === ownerRole(db),
      grants,
      users: new Set(lines.filter((l) => l.startsWith('user ')).map((l) => l.slice(5))),
      sizeBytes: Number(field('size') ?? 0),
    };
  }
  const rows = await mariadb(
    exec,
    server,
    `SELECT 'exists', COUNT(*) FROM information_schema.schemata WHERE schema_name = ${quoteText(db)};
SELECT 'size', COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema = ${quoteText(db)};
SELECT 'privilege', GRANTEE, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.SCHEMA_PRIVILEGES WHERE REPLACE(TABLE_SCHEMA, '\\\\_', '_') = ${quoteText(db)};
SELECT 'levels', COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'db' AND COLUMN_NAME LIKE '%\\_priv' AND COLUMN_NAME <> 'Grant_priv';
SELECT 'user', User, Host FROM mysql.user;`,
    signal,
  );
  const privileges = rows
    .filter((r) => r[0] === 'privilege')
    .flatMap((r) => {
      const grantee = parseGrantee(r[1]);
      return grantee ? [{ ...grantee, privilege: r[2], grantable: r[3] === 'YES' }] : [];
    });
  const accounts = rows.filter((r) => r[0] === 'user').map((r) => ({ user: r[1], host: r[2] }));
  for (const [user, access] of accessByUser(privileges, accounts, Number(rows.find((r) => r[0] === 'levels')?.[1])))
    grants.set(user, access);
  const wanted = new Set(names);
  return {
    exists: rows.find((r) => r[0] === 'exists')?.[1] === '1',
    ownerOk: true,
    grants,
    users: new Set(accounts.filter((a) => wanted.has(a.user)).map((a) => a.user)),
    sizeBytes: Number(rows.find((r) => r[0] === 'size')?.[1] ?? 0),
  };
}
