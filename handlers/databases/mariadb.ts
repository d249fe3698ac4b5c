/**
 * MariaDB: a schema per database; users are `'<name>'@'%'` with REQUIRE SSL and a
 * mysql_native_password hash; `rw` is ALL PRIVILEGES on the schema (never GRANT OPTION), `ro`
 * SELECT and SHOW VIEW. Grants name the schema with `_` escaped, since `_` is a wildcard in
 * GRANT: an unescaped `db_a` would also grant `dbxa`. Dropping a schema keeps its grants in
 * MariaDB, so they are revoked first.
 */
import type { Executor } from '../../lib/exec/index.ts';
import type { DbServerRef, Grant } from '../../queues/databases/ops.ts';
import { checkedName, checkedVerifier, mariadb, quoteGrantSchema, quoteIdent, quoteText } from './sql.ts';

const HOST = '%';
const account = (user: string) => `${quoteText(user)}@${quoteText(HOST)}`;
const PRIVILEGES = { rw: 'ALL PRIVILEGES', ro: 'SELECT, SHOW VIEW' } as const;

/** Who holds privileges on the schema now (the grant tables, wildcards unescaped). */
async function grantees(exec: Executor, server: DbServerRef, db: string, signal?: AbortSignal): Promise<{ user: string; host: string }[]> {
  const rows = await mariadb(exec, server, `SELECT User, Host FROM mysql.db WHERE REPLACE(Db, '\\\\_', '_') = ${quoteText(db)};`, signal);
  return rows.map(([user, host]) => ({ user, host }));
}

export async function myApplyDatabase(
  exec: Executor,
  server: DbServerRef,
  name: string,
  grants: readonly Grant[],
  signal?: AbortSignal,
): Promise<{ created: boolean; missing: string[] }> {
  const db = checkedName(name, 'mariadb', 'database');
  for (const g of grants) checkedName(g.user, 'mariadb', 'user');
  const [[exists], present] = await Promise.all([
    mariadb(exec, server, `SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ${quoteText(db)};`, signal),
    mariadb(exec, server, `SELECT User FROM mysql.user WHERE Host = ${quoteText(HOST)};`, signal).then(
      (rows) => new Set(rows.map((r) => r[0])),
    ),
  ]);
  const current = await grantees(exec, server, db, signal);
  const statements = [`CREATE DATABASE IF NOT EXISTS ${quoteIdent(db)};`];
  // Every current grant goes (rw → ro must lose what ro lacks), then the stored ones come back.
  for (const g of current)
    if (/^[a-z][a-z0-9_]{0,79}$/.test(g.user) && g.host === HOST)
      statements.push(`REVOKE ALL PRIVILEGES ON ${quoteGrantSchema(db)}.* FROM ${account(g.user)};`);
  const missing = grants.filter((g) => !present.has(g.user)).map((g) => g.user);
  for (const g of grants.filter((g) => present.has(g.user)))
    statements.push(`GRANT ${PRIVILEGES[g.access]} ON ${quoteGrantSchema(db)}.* TO ${account(g.user)};`);
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
  const revokes = (await grantees(exec, server, db, signal))
    .filter((g) => /^[a-z][a-z0-9_]{0,79}$/.test(g.user) && g.host === HOST)
    .map((g) => `REVOKE ALL PRIVILEGES ON ${quoteGrantSchema(db)}.* FROM ${account(g.user)};`);
  await mariadb(exec, server, [...revokes, `DROP DATABASE IF EXISTS ${quoteIdent(db)};`].join('\n'), signal);
  return exists[0] !== '0';
}

export async function myApplyUser(
  exec: Executor,
  server: DbServerRef,
  name: string,
  verifier: string,
  signal?: AbortSignal,
): Promise<boolean> {
  const user = checkedName(name, 'mariadb', 'user');
  const hash = quoteText(checkedVerifier(verifier, 'mariadb'));
  const [[count]] = await mariadb(
    exec,
    server,
    `SELECT COUNT(*) FROM mysql.user WHERE User = ${quoteText(user)} AND Host = ${quoteText(HOST)};
CREATE USER IF NOT EXISTS ${account(user)} IDENTIFIED BY PASSWORD ${hash} REQUIRE SSL;
ALTER USER ${account(user)} IDENTIFIED BY PASSWORD ${hash} REQUIRE SSL;`,
    signal,
  );
  return count === '0';
}

export async function myDeleteUser(exec: Executor, server: DbServerRef, name: string, signal?: AbortSignal): Promise<boolean> {
  const user = checkedName(name, 'mariadb', 'user');
  const rows = await mariadb(
    exec,
    server,
    `SELECT COUNT(*) FROM mysql.user WHERE User = ${quoteText(user)} AND Host = ${quoteText(HOST)};
SELECT ID FROM information_schema.processlist WHERE User = ${quoteText(user)};
DROP USER IF EXISTS ${account(user)};`,
    signal,
  );
  // Its sessions outlive DROP USER: they are closed too (ids are integers the server gave).
  const sessions = rows
    .slice(1)
    .map((r) => Number(r[0]))
    .filter(Number.isSafeInteger);
  if (sessions.length) await mariadb(exec, server, sessions.map((id) => `KILL CONNECTION ${id};`).join('\n'), signal).catch(() => []);
  return rows[0][0] !== '0';
}
