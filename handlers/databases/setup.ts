/**
 * A database server on its host, as up wants it: listening on the admin's address (and the
 * local socket), TLS with the host's service certificate required for every network
 * connection, up's control account reachable over the local socket only, running. Every step
 * checks first: a second run changes nothing. Debian's packages are already installed
 * (host.prepare); a cluster or data directory they did not create is created here.
 */
import { CommandError, sh, type Executor } from '../../lib/exec/index.ts';
import { RetryableError } from '../../lib/errors.ts';
import type { DbServerRef } from '../../queues/databases/ops.ts';
import { HBA_USERS_BEGIN, HBA_USERS_END, hbaUserLines } from './hba.ts';
import { MARIADB_SOCKET, mariadb, PG_CONTROL_ROLE, PG_IMPORT_GROUP, PG_SOCKET_DIR, psql, quoteText } from './sql.ts';

export interface Tls {
  cert: string;
  key: string;
}

const HEADER = 'Written by up (database.server.setup): changes here are overwritten.';

/** Every value here passed the payload's patterns (address, port, paths). */
export function pgConf(listen: string, port: number, tls: Tls): string {
  return [
    `# ${HEADER}`,
    `listen_addresses = 'localhost,${listen}'`,
    `port = ${port}`,
    `unix_socket_directories = '${PG_SOCKET_DIR}'`,
    'ssl = on',
    `ssl_cert_file = '${tls.cert}'`,
    `ssl_key_file = '${tls.key}'`,
    "ssl_min_protocol_version = 'TLSv1.2'",
    "password_encryption = 'scram-sha-256'",
    '',
  ].join('\n');
}

/**
 * First match wins: up's control role and postgres only over the local socket (peer), tenants'
 * users never locally (but temporary import logins, members of up_import, with a password) and
 * never without TLS; over TLS with SCRAM. Which databases each may
 * reach is CONNECT privileges' business (REVOKE … FROM PUBLIC on every database). Users limited
 * to networks have their lines between the markers (database.user.apply keeps them; setup too).
 */
export function pgHba(userLines: readonly string[] = []): string {
  return [
    `# ${HEADER}`,
    `local all ${PG_CONTROL_ROLE} peer map=up`,
    'local all postgres peer',
    `local all +${PG_IMPORT_GROUP} scram-sha-256`,
    'local all all reject',
    `host all ${PG_CONTROL_ROLE},postgres all reject`,
    'hostnossl all all all reject',
    HBA_USERS_BEGIN,
    ...userLines,
    HBA_USERS_END,
    'hostssl all all all scram-sha-256',
    '',
  ].join('\n');
}

export const pgIdent = () => `# ${HEADER}\nup root ${PG_CONTROL_ROLE}\n`;

export function mariadbConf(listen: string, port: number, tls: Tls): string {
  return [
    `# ${HEADER}`,
    '[mysqld]',
    `bind-address = ${listen}`,
    `port = ${port}`,
    `socket = ${MARIADB_SOCKET}`,
    `ssl_cert = ${tls.cert}`,
    `ssl_key = ${tls.key}`,
    'require_secure_transport = ON',
    'tls_version = TLSv1.2,TLSv1.3',
    'local_infile = OFF',
    '',
  ].join('\n');
}

const systemd = sh`[ -d /run/systemd/system ]`;

async function requireTls(exec: Executor, tls: Tls, service: string): Promise<void> {
  const { exitCode } = await exec.run(sh`[ -s ${tls.cert} ] && [ -s ${tls.key} ]`, { okExitCodes: [0, 1] });
  if (exitCode !== 0)
    throw new RetryableError(
      `${exec.host}: no TLS certificate at ${tls.cert} yet (up certs create --service ${service} --host ${exec.host})`,
      { code: 'TLS_MISSING' },
    );
}

async function until(check: () => Promise<boolean>, what: string, host: string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new RetryableError(`${host}: ${what} within 30 s`, { code: 'DB_SERVER_START' });
}

export async function setupPostgresql(
  exec: Executor,
  server: DbServerRef,
  listen: string,
  tls: Tls,
): Promise<{ version: string; changed: string[] }> {
  await requireTls(exec, tls, 'postgresql');
  return exec.withLock('db-server-postgresql', async () => {
    const changed: string[] = [];
    const version = (await exec.run(sh`ls /usr/lib/postgresql | sort -V | tail -n 1`)).stdout.trim();
    if (!/^[0-9]{1,3}$/.test(version))
      throw new RetryableError(`${exec.host}: PostgreSQL is not installed (host.prepare)`, { code: 'NOT_INSTALLED' });
    const dir = `/etc/postgresql/${version}/${server.cluster}`;
    const made = await exec.run(
      sh`if [ ! -f ${`${dir}/postgresql.conf`} ]; then pg_createcluster ${version} ${server.cluster} -p ${server.port} >/dev/null && echo created; fi`,
    );
    if (made.stdout.includes('created')) changed.push(`cluster ${version}/${server.cluster} created`);
    const owned = { owner: 'postgres', group: 'postgres' };
    await exec.run(sh`install -d -o postgres -g postgres -m 0755 ${`${dir}/conf.d`} ${PG_SOCKET_DIR}`);
    const conf = await exec.putFile(`${dir}/conf.d/up.conf`, pgConf(listen, server.port, tls), { ...owned, mode: 0o644 });
    const hbaFile = `${dir}/pg_hba.conf`;
    const hba = await exec.putFile(hbaFile, pgHba(hbaUserLines((await exec.readFile(hbaFile))?.toString() ?? '')), {
      ...owned,
      mode: 0o640,
    });
    const ident = await exec.putFile(`${dir}/pg_ident.conf`, pgIdent(), { ...owned, mode: 0o640 });
    for (const [file, change] of [
      ['up.conf', conf],
      ['pg_hba.conf', hba],
      ['pg_ident.conf', ident],
    ] as const)
      if (change.changed) changed.push(`${dir}/${file}`);
    const online = async () =>
      (await exec.run(sh`pg_lsclusters -h ${version} ${server.cluster} | grep -q ' online'`, { okExitCodes: [0, 1] })).exitCode === 0;
    const ctl = (action: string) =>
      sh`if ${systemd}; then systemctl ${action} ${`postgresql@${version}-${server.cluster}`}; else pg_ctlcluster --skip-systemctl-redirect ${version} ${server.cluster} ${action}; fi`;
    if (!(await online())) {
      await runOrExplain(exec, ctl('start'), 'PostgreSQL did not start');
      changed.push('started');
    } else if (conf.changed) {
      await runOrExplain(exec, ctl('restart'), 'PostgreSQL did not restart');
      changed.push('restarted');
    } else if (hba.changed || ident.changed) {
      await exec.run(ctl('reload'));
      changed.push('reloaded');
    }
    await until(online, 'PostgreSQL did not come online', exec.host);
    // The control role: a superuser reached only as root over the local socket (pg_ident map `up`).
    const role = await exec.run(
      sh`cd / && runuser -u postgres -- psql -X -q -A -t -v ON_ERROR_STOP=1 -h ${PG_SOCKET_DIR} -p ${server.port} -d postgres -f -`,
      {
        stdin: `SELECT 'created' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${PG_CONTROL_ROLE}');
SELECT format('CREATE ROLE %I SUPERUSER LOGIN', '${PG_CONTROL_ROLE}') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${PG_CONTROL_ROLE}') \\gexec
`,
      },
    );
    if (role.stdout.includes('created')) changed.push(`role ${PG_CONTROL_ROLE} created`);
    return { version, changed };
  });
}

export async function setupMariadb(
  exec: Executor,
  server: DbServerRef,
  listen: string,
  tls: Tls,
): Promise<{ version: string; changed: string[] }> {
  await requireTls(exec, tls, 'mariadb');
  return exec.withLock('db-server-mariadb', async () => {
    const changed: string[] = [];
    const version = (await exec.run(sh`mariadbd --version`, { okExitCodes: [0, 127] })).stdout.match(/Ver ([0-9.]+)/)?.[1];
    if (!version) throw new RetryableError(`${exec.host}: MariaDB is not installed (host.prepare)`, { code: 'NOT_INSTALLED' });
    const init = await exec.runScript([
      sh`install -d -o mysql -g mysql -m 0755 /run/mysqld /etc/mysql/mariadb.conf.d`,
      sh`if [ ! -d /var/lib/mysql/mysql ]; then mariadb-install-db --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=socket --skip-test-db >/dev/null 2>&1 && echo installed; fi`,
      sh`grep -q '^!includedir /etc/mysql/mariadb.conf.d' /etc/mysql/my.cnf || { printf '\n!includedir /etc/mysql/mariadb.conf.d/\n' >> /etc/mysql/my.cnf && echo included; }`,
    ]);
    if (init.stdout.includes('installed')) changed.push('data directory created');
    if (init.stdout.includes('included')) changed.push('/etc/mysql/my.cnf');
    const conf = await exec.putFile('/etc/mysql/mariadb.conf.d/90-up.cnf', mariadbConf(listen, server.port, tls), {
      owner: 'root',
      group: 'root',
      mode: 0o644,
    });
    if (conf.changed) changed.push('/etc/mysql/mariadb.conf.d/90-up.cnf');
    const alive = async () =>
      (await exec.run(sh`mariadb --no-defaults -u root -S ${MARIADB_SOCKET} -e 'SELECT 1'`, { okExitCodes: [0, 1] })).exitCode === 0;
    const start = sh`if ${systemd}; then systemctl start mariadb; else start-stop-daemon --start --quiet --background --pidfile /run/mysqld/mysqld.pid --exec /usr/sbin/mariadbd -- --user=mysql; fi`;
    if (!(await alive())) {
      await runOrExplain(exec, start, 'MariaDB did not start');
      changed.push('started');
    } else if (conf.changed || init.stdout.includes('included')) {
      await exec.run(
        sh`if ${systemd}; then systemctl restart mariadb; else mariadb-admin --no-defaults -u root -S ${MARIADB_SOCKET} shutdown && ${start}; fi`,
      );
      changed.push('restarted');
    }
    await until(alive, 'MariaDB did not answer on its socket', exec.host);
    if (await tlsProbeAccount(exec, server, listen)) changed.push(`account ${MARIADB_TLS_PROBE}@${listen} created`);
    return { version, changed };
  });
}

/**
 * MariaDB answers a client whose address no account names with an error instead of its
 * greeting, so before any tenant account exists nothing could start TLS with it, not even the
 * health check on the host itself. A locked account for the server's own address (a name no
 * tenant's can be: `-` is in none) makes it greet that one address; nobody can log in with it.
 * Accounts of this name for other addresses (a listen address changed) go.
 */
export const MARIADB_TLS_PROBE = 'up-tls-probe';

async function tlsProbeAccount(exec: Executor, server: DbServerRef, listen: string): Promise<boolean> {
  const hosts = (await mariadb(exec, server, `SELECT Host FROM mysql.user WHERE User = ${quoteText(MARIADB_TLS_PROBE)};`)).map((r) => r[0]);
  const statements = hosts.filter((h) => h !== listen).map((h) => `DROP USER IF EXISTS ${quoteText(MARIADB_TLS_PROBE)}@${quoteText(h)};`);
  if (!hosts.includes(listen))
    statements.push(`CREATE USER IF NOT EXISTS ${quoteText(MARIADB_TLS_PROBE)}@${quoteText(listen)} REQUIRE SSL ACCOUNT LOCK;`);
  if (statements.length) await mariadb(exec, server, statements.join('\n'));
  return !hosts.includes(listen);
}

/** Makes a running server read its certificate and key again (PostgreSQL: on reload; MariaDB: FLUSH SSL). */
export async function reloadTls(exec: Executor, server: DbServerRef): Promise<void> {
  if (server.engine === 'postgresql') await psql(exec, server, 'postgres', 'SELECT pg_reload_conf();');
  else await mariadb(exec, server, 'FLUSH SSL;');
}

async function runOrExplain(exec: Executor, cmd: ReturnType<typeof sh>, what: string): Promise<void> {
  try {
    await exec.run(cmd, { timeoutMs: 60_000 });
  } catch (error) {
    if (error instanceof CommandError)
      throw new RetryableError(`${exec.host}: ${what}: ${error.message.slice(-600)}`, { code: 'DB_SERVER_START' });
    throw error;
  }
}
