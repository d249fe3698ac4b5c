/**
 * MariaDB: a schema per database; a user is one account per client network it may connect from
 * (`'<name>'@'%'` when it may connect from anywhere), all with REQUIRE SSL, the same
 * mysql_native_password hash and the same grants: the host part takes one netmask, so a list of
 * networks needs one account each. `rw` is ALL PRIVILEGES on the schema (never GRANT OPTION), `ro`
 * SELECT and SHOW VIEW. Grants name the schema with `_` escaped, since `_` is a wildcard in
 * GRANT: an unescaped `db_a` would also grant `dbxa`. Dropping a schema keeps its grants in
 * MariaDB, so they are revoked first.
 */
import type { Executor } from '../../lib/exec/index.ts';
import type { Network } from '../../lib/validate/address.ts';
import { mariadbHosts } from '../../queues/databases/addresses.ts';
import type { DbServerRef, Grant } from '../../queues/databases/ops.ts';
import { checkedName, checkedVerifier, mariadb, quoteGrantSchema, quoteIdent, quoteText } from './sql.ts';

const account = (user: string, host: string) => `${quoteText(user)}@${quoteText(host)}`;
const PRIVILEGES = { rw: 'ALL PRIVILEGES', ro: 'SELECT, SHOW VIEW' } as const;
/** Accounts up manages: a tenant's user name, a host part up writes (`%`, an address, address/netmask). */
const managed = (a: { user: string; host: string }) => /^[a-z][a-z0-9_]{0,79}$/.test(a.user) && /^(%|[0-9a-fA-F.:/]{2,80})$/.test(a.host);

/** Who holds privileges on the schema now (the grant tables, wildcards unescaped), and whether with GRANT OPTION. */
async function grantees(
  exec: Executor,
  server: DbServerRef,
  db: string,
  signal?: AbortSignal,
): Promise<{ user: string; host: string; grantOption: boolean }[]> {
  const rows = await mariadb(
    exec,
    server,
    `SELECT User, Host, Grant_priv FROM mysql.db WHERE REPLACE(Db, '\\\\_', '_') = ${quoteText(db)};`,
    signal,
  );
  return rows.map(([user, host, grant]) => ({ user, host, grantOption: grant === 'Y' })).filter(managed);
}

/** Everything the account holds on the schema goes: GRANT OPTION (which ALL PRIVILEGES leaves) first, while its row is there. */
const revokeAll = (db: string, g: { user: string; host: string; grantOption: boolean }) => [
  ...(g.grantOption ? [`REVOKE GRANT OPTION ON ${quoteGrantSchema(db)}.* FROM ${account(g.user, g.host)};`] : []),
  `REVOKE ALL PRIVILEGES ON ${quoteGrantSchema(db)}.* FROM ${account(g.user, g.host)};`,
];

export async function myApplyDatabase(
  exec: Executor,
  server: DbServerRef,
  name: string,
  grants: readonly Grant[],
  signal?: AbortSignal,
): Promise<{ created: boolean; missing: string[] }> {
  const db = checkedName(name, 'mariadb', 'database');
  for (const g of grants) checkedName(g.user, 'mariadb', 'user');
  const [[exists], accounts] = await Promise.all([
    mariadb(exec, server, `SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ${quoteText(db)};`, signal),
    mariadb(exec, server, 'SELECT User, Host FROM mysql.user;', signal).then((rows) =>
      rows.map(([user, host]) => ({ user, host })).filter(managed),
    ),
  ]);
  const current = await grantees(exec, server, db, signal);
  const statements = [`CREATE DATABASE IF NOT EXISTS ${quoteIdent(db)};`];
  // Every current grant goes (rw → ro must lose what ro lacks), then the stored ones come back.
  for (const g of current) statements.push(...revokeAll(db, g));
  const missing = grants.filter((g) => !accounts.some((a) => a.user === g.user)).map((g) => g.user);
  for (const g of grants)
    for (const a of accounts.filter((a) => a.user === g.user))
      statements.push(`GRANT ${PRIVILEGES[g.access]} ON ${quoteGrantSchema(db)}.* TO ${account(a.user, a.host)};`);
  await mariadb(exec, server, statements.join('\n'), signal);
  return { created: exists[0] === '0', missing };
}

export async function myDeleteDatabase(exec: Executor, server: DbServerRef, name: string, signal?: AbortSignal): Promise<boolean> {
  const db = checkedName(name, 'mariadb', 'database');
  const [[exists]] = await mariadb(
    exec,
    server,
    `SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ${quoteText(db)};`,
    signal,
  );
  const revokes = (await grantees(exec, server, db, signal)).flatMap((g) => revokeAll(db, g));
  await mariadb(exec, server, [...revokes, `DROP DATABASE IF EXISTS ${quoteIdent(db)};`].join('\n'), signal);
  return exists[0] !== '0';
}

/** The user's accounts, one per network; new ones get the user's grants, ones for networks it lost go. */
export async function myApplyUser(
  exec: Executor,
  server: DbServerRef,
  name: string,
  verifier: string,
  networks: readonly Network[],
  databases: readonly { name: string; access: Grant['access'] }[],
  signal?: AbortSignal,
): Promise<boolean> {
  const user = checkedName(name, 'mariadb', 'user');
  const hash = quoteText(checkedVerifier(verifier, 'mariadb'));
  const wanted = mariadbHosts(networks);
  const existing = (await accountsOf(exec, server, user, signal)).map((a) => a.host);
  const statements: string[] = [];
  for (const host of existing.filter((h) => !wanted.includes(h))) statements.push(`DROP USER IF EXISTS ${account(user, host)};`);
  for (const host of wanted) {
    statements.push(
      `CREATE USER IF NOT EXISTS ${account(user, host)} IDENTIFIED BY PASSWORD ${hash} REQUIRE SSL;`,
      `ALTER USER ${account(user, host)} IDENTIFIED BY PASSWORD ${hash} REQUIRE SSL;`,
    );
    if (!existing.includes(host))
      for (const d of databases)
        statements.push(
          `GRANT ${PRIVILEGES[d.access]} ON ${quoteGrantSchema(checkedName(d.name, 'mariadb', 'database'))}.* TO ${account(user, host)};`,
        );
  }
  await mariadb(exec, server, statements.join('\n'), signal);
  return existing.length === 0;
}

async function accountsOf(exec: Executor, server: DbServerRef, user: string, signal?: AbortSignal) {
  const rows = await mariadb(exec, server, `SELECT User, Host FROM mysql.user WHERE User = ${quoteText(user)};`, signal);
  return rows.map(([u, host]) => ({ user: u, host })).filter(managed);
}

export async function myDeleteUser(exec: Executor, server: DbServerRef, name: string, signal?: AbortSignal): Promise<boolean> {
  const user = checkedName(name, 'mariadb', 'user');
  const accounts = await accountsOf(exec, server, user, signal);
  const rows = await mariadb(
    exec,
    server,
    `SELECT ID FROM information_schema.processlist WHERE User = ${quoteText(user)};
${accounts.map((a) => `DROP USER IF EXISTS ${account(a.user, a.host)};`).join('\n')}`,
    signal,
  );
  // Its sessions outlive DROP USER: they are closed too (ids are integers the server gave).
  const sessions = rows.map((r) => Number(r[0])).filter(Number.isSafeInteger);
  if (sessions.length) await mariadb(exec, server, sessions.map((id) => `KILL CONNECTION ${id};`).join('\n'), signal).catch(() => []);
  return accounts.length > 0;
}
