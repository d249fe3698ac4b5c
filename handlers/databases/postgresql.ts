/**
 * PostgreSQL: one owner role (NOLOGIN) per database owns it and its `public` schema; `rw` users
 * are members of it and their sessions in that database run as it (ALTER ROLE … IN DATABASE …
 * SET role), so every object a rw user makes is the database's, usable by its other rw users;
 * `ro` users get CONNECT, USAGE and SELECT (and default privileges for what comes later).
 * Nobody else may connect: CONNECT and the public schema are revoked from PUBLIC.
 */
import type { Executor } from '../../lib/exec/index.ts';
import { RetryableError } from '../../lib/errors.ts';
import type { DbServerRef, Grant } from '../../queues/databases/ops.ts';
import type { Network } from '../../lib/validate/address.ts';
import { HBA_SEEN_SQL, hbaSeenIn, pgApplyNetworks, pgRemoveNetworks } from './hba.ts';
import { PG_CONTROL_ROLE, checkedName, checkedVerifier, ownerRole, psql, psqlSet } from './sql.ts';

const GRANTS_TABLE = `CREATE TEMP TABLE up_grants AS SELECT "user", access FROM jsonb_to_recordset(:'grants'::jsonb) AS g("user" text, access text);`;

export async function pgApplyDatabase(
  exec: Executor,
  server: DbServerRef,
  name: string,
  grants: readonly Grant[],
  signal?: AbortSignal,
): Promise<{ created: boolean; missing: string[] }> {
  const db = checkedName(name, 'postgresql', 'database');
  for (const g of grants) checkedName(g.user, 'postgresql', 'user');
  const vars = [
    psqlSet('db', db),
    psqlSet('owner', ownerRole(db)),
    psqlSet('grants', JSON.stringify(grants)),
    psqlSet('control', PG_CONTROL_ROLE),
  ].join('\n');
  // One psql session, one round trip: the cluster's part in `postgres`, then (\connect) the
  // database's own: its public schema is its owner's and its ro grantees' only.
  const out = await psql(
    exec,
    server,
    'postgres',
    `${vars}
${GRANTS_TABLE}
SELECT format('CREATE ROLE %I NOLOGIN', :'owner') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \\gexec
SELECT NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') AS created \\gset
\\if :created
CREATE DATABASE :"db" OWNER :"owner";
\\endif
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'owner') FROM pg_database d WHERE d.datname = :'db' AND pg_get_userbyid(d.datdba) <> :'owner' \\gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
-- Grantees who are no longer: CONNECT and TEMP on the database, membership of the owner, the per-database role.
SELECT DISTINCT format('REVOKE ALL ON DATABASE %I FROM %I', :'db', r.rolname)
  FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a JOIN pg_roles r ON r.oid = a.grantee
  WHERE d.datname = :'db' AND r.rolname NOT IN (:'owner', :'control') AND r.rolname NOT IN (SELECT "user" FROM up_grants) \\gexec
SELECT format('REVOKE %I FROM %I', :'owner', m.rolname)
  FROM pg_auth_members am JOIN pg_roles o ON o.oid = am.roleid JOIN pg_roles m ON m.oid = am.member
  WHERE o.rolname = :'owner' AND m.rolname NOT IN (SELECT "user" FROM up_grants WHERE access = 'rw') \\gexec
SELECT format('ALTER ROLE %I IN DATABASE %I RESET role', r.rolname, :'db')
  FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase JOIN pg_roles r ON r.oid = s.setrole
  WHERE d.datname = :'db' AND r.rolname NOT IN (SELECT "user" FROM up_grants WHERE access = 'rw') \\gexec
SELECT format('REVOKE TEMPORARY ON DATABASE %I FROM %I', :'db', g."user") FROM up_grants g JOIN pg_roles r ON r.rolname = g."user" WHERE g.access = 'ro' \\gexec
-- The grants as stored.
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %1$I TO %2$I; GRANT %3$I TO %2$I; ALTER ROLE %2$I IN DATABASE %1$I SET role = %3$L', :'db', g."user", :'owner')
  FROM up_grants g JOIN pg_roles r ON r.rolname = g."user" WHERE g.access = 'rw' \\gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'db', g."user") FROM up_grants g JOIN pg_roles r ON r.rolname = g."user" WHERE g.access = 'ro' \\gexec
SELECT 'created:' || :'created';
SELECT 'missing:' || g."user" FROM up_grants g WHERE NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = g."user");
\\connect :"db"
${GRANTS_TABLE}
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SELECT DISTINCT format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %1$I; REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %1$I; REVOKE ALL ON SCHEMA public FROM %1$I; ALTER DEFAULT PRIVILEGES FOR ROLE %2$I IN SCHEMA public REVOKE ALL ON TABLES FROM %1$I; ALTER DEFAULT PRIVILEGES FOR ROLE %2$I IN SCHEMA public REVOKE ALL ON SEQUENCES FROM %1$I', r.rolname, :'owner')
  FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a JOIN pg_roles r ON r.oid = a.grantee
  WHERE n.nspname = 'public' AND r.rolname NOT IN (:'owner', 'pg_database_owner', :'control')
    AND r.rolname NOT IN (SELECT "user" FROM up_grants WHERE access = 'ro') \\gexec
SELECT format('GRANT USAGE ON SCHEMA public TO %1$I; GRANT SELECT ON ALL TABLES IN SCHEMA public TO %1$I; GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO %1$I; ALTER DEFAULT PRIVILEGES FOR ROLE %2$I IN SCHEMA public GRANT SELECT ON TABLES TO %1$I; ALTER DEFAULT PRIVILEGES FOR ROLE %2$I IN SCHEMA public GRANT SELECT ON SEQUENCES TO %1$I', g."user", :'owner')
  FROM up_grants g JOIN pg_roles r ON r.rolname = g."user" WHERE g.access = 'ro' \\gexec
`,
    signal,
  );
  const missing = out.filter((l) => l.startsWith('missing:')).map((l) => l.slice('missing:'.length));
  return { created: out.includes('created:t') || out.includes('created:true'), missing };
}

export async function pgDeleteDatabase(exec: Executor, server: DbServerRef, name: string, signal?: AbortSignal): Promise<boolean> {
  const db = checkedName(name, 'postgresql', 'database');
  const out = await psql(
    exec,
    server,
    'postgres',
    `${psqlSet('db', db)}
${psqlSet('owner', ownerRole(db))}
SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') AS present \\gset
DROP DATABASE IF EXISTS :"db" WITH (FORCE);
SELECT format('DROP ROLE %I', :'owner') WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \\gexec
SELECT 'present:' || :'present';
`,
    signal,
  );
  return out.includes('present:t');
}

export async function pgApplyUser(
  exec: Executor,
  server: DbServerRef,
  name: string,
  verifier: string,
  networks: readonly Network[],
  signal?: AbortSignal,
): Promise<boolean> {
  const user = checkedName(name, 'postgresql', 'user');
  const out = await psql(
    exec,
    server,
    'postgres',
    `${psqlSet('u', user)}
${psqlSet('verifier', checkedVerifier(verifier, 'postgresql'))}
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'u') AS created \\gset
\\if :created
CREATE ROLE :"u" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'verifier';
\\else
ALTER ROLE :"u" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'verifier';
\\endif
SELECT 'created:' || :'created';
${HBA_SEEN_SQL}
`,
    signal,
  );
  await pgApplyNetworks(exec, server, user, networks, signal, hbaSeenIn(out));
  return out.includes('created:t');
}

/** Privileges in each listed database go first (DROP OWNED), then its sessions, then the role. */
export async function pgDeleteUser(
  exec: Executor,
  server: DbServerRef,
  name: string,
  databases: readonly string[],
  signal?: AbortSignal,
): Promise<boolean> {
  const user = checkedName(name, 'postgresql', 'user');
  const present = await psql(
    exec,
    server,
    'postgres',
    `${psqlSet('u', user)}
${psqlSet('dbs', databases.map((d) => checkedName(d, 'postgresql', 'database')).join(','))}
SELECT datname FROM pg_database WHERE datname = ANY (string_to_array(:'dbs', ',')) ORDER BY 1;
SELECT 'role' FROM pg_roles WHERE rolname = :'u';
`,
    signal,
  );
  await pgRemoveNetworks(exec, server, user, signal);
  if (!present.includes('role')) return false;
  for (const db of present.filter((l) => l !== 'role'))
    await psql(exec, server, db, `${psqlSet('u', user)}\nDROP OWNED BY :"u";\n`, signal);
  await psql(
    exec,
    server,
    'postgres',
    `${psqlSet('u', user)}
DROP OWNED BY :"u";
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :'u';
DROP ROLE IF EXISTS :"u";
`,
    signal,
  );
  return true;
}

/** What a grant missing its user means: the user's own job has not run yet (it will). */
export function missingUsers(missing: string[]): void {
  if (missing.length) throw new RetryableError(`database users not on the server yet: ${missing.join(', ')}`, { code: 'DB_USER_MISSING' });
}
