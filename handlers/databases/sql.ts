/**
 * How up talks to a database server on its host: over SSH, then the server's local socket as
 * up's control account (PostgreSQL: the role `up`, peer-mapped from root; MariaDB: root through
 * unix_socket), so no control password exists anywhere. SQL goes on stdin, never in argv (where
 * `ps` would show it). Every value placed in SQL passed a strict pattern first (checkedName);
 * PostgreSQL statements then quote it again through psql variables (`:"x"`, `:'x'`) and
 * format('%I'); MariaDB ones through quoteIdent/quoteText below.
 */
import { sh, type Executor } from '../../lib/exec/index.ts';
import { PermanentError, RetryableError } from '../../lib/errors.ts';
import { DB_IDENTIFIER, NAME_LIMITS, VERIFIER_PATTERNS, type DbEngine, type DbServerRef } from '../../queues/databases/ops.ts';

export const PG_CONTROL_ROLE = 'up';
/** Temporary import logins are members of it: pg_hba lets them (and only them) in over the socket with a password. */
export const PG_IMPORT_GROUP = 'up_import';
export const PG_SOCKET_DIR = '/var/run/postgresql';
export const MARIADB_SOCKET = '/run/mysqld/mysqld.sock';

const IDENTIFIER = new RegExp(DB_IDENTIFIER);

/** A name checked again where it is used: the payload schema is one wall, this is the second. */
export function checkedName(name: string, engine: DbEngine, kind: 'database' | 'user'): string {
  if (!IDENTIFIER.test(name) || name.length > NAME_LIMITS[engine][kind])
    throw new PermanentError(`not a valid ${engine} ${kind} name: ${JSON.stringify(name.slice(0, 90))}`, { code: 'BAD_NAME' });
  return name;
}

export function checkedVerifier(verifier: string, engine: DbEngine): string {
  if (!new RegExp(VERIFIER_PATTERNS[engine]).test(verifier))
    throw new PermanentError(`not a ${engine} password verifier`, { code: 'BAD_VERIFIER' });
  return verifier;
}

/** A psql variable definition; the value is a checked name, verifier or JSON of them (no quote, no backslash). */
export function psqlSet(name: string, value: string): string {
  if (/['\\\n\r\0]/.test(value)) throw new PermanentError(`refused to pass ${name} to psql: it has a quote, backslash or newline`);
  return `\\set ${name} '${value}'`;
}

/** MariaDB identifiers and strings for checked values: nothing in them can close the quote. */
export function quoteIdent(name: string): string {
  if (!IDENTIFIER.test(name)) throw new PermanentError(`refused identifier ${JSON.stringify(name.slice(0, 90))}`);
  return `\`${name}\``;
}
/** A schema name as GRANT wants it: `_` is a wildcard there, so it is escaped. */
export function quoteGrantSchema(name: string): string {
  return quoteIdent(name).replace(/_/g, '\\_');
}
export function quoteText(value: string): string {
  if (/['\\\n\r\0]/.test(value)) throw new PermanentError('refused a string with a quote, backslash or newline');
  return `'${value}'`;
}

/** The owner role of a PostgreSQL database: `-` is in no tenant's name, so it never collides with one. */
export const ownerRole = (database: string) => `${database}-owner`;

/** Runs a psql script as up's control role; output: unaligned tuples, one per line. */
export async function psql(exec: Executor, server: DbServerRef, database: string, script: string, signal?: AbortSignal): Promise<string[]> {
  const run = await exec.run(
    sh`psql -X -q -A -t -v ON_ERROR_STOP=1 -h ${PG_SOCKET_DIR} -p ${server.port} -U ${PG_CONTROL_ROLE} -d ${database} -f -`,
    { stdin: script, signal, okExitCodes: [0, 1, 2, 3] },
  );
  if (run.exitCode !== 0) throw sqlError(exec, server, run.exitCode === 2, run.stderr);
  return run.stdout.split('\n').filter((l) => l.length > 0);
}

/** Runs MariaDB statements as root through the local socket; output: tab-separated rows. */
export async function mariadb(exec: Executor, server: DbServerRef, statements: string, signal?: AbortSignal): Promise<string[][]> {
  const run = await exec.run(sh`mariadb --no-defaults -u root -S ${MARIADB_SOCKET} --batch --skip-column-names`, {
    stdin: statements,
    signal,
    okExitCodes: [0, 1],
  });
  if (run.exitCode !== 0) throw sqlError(exec, server, /ERROR 2002|ERROR 2003|Can't connect/.test(run.stderr), run.stderr);
  return run.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

function sqlError(exec: Executor, server: DbServerRef, unreachable: boolean, stderr: string): Error {
  const text = stderr.trim().slice(-600);
  return unreachable
    ? new RetryableError(`${server.engine} server ${server.name} on ${exec.host} does not answer on its socket: ${text}`, {
        code: 'DB_SERVER_DOWN',
      })
    : new RetryableError(`${server.engine} on ${exec.host}: ${text}`, { code: 'SQL_FAILED' });
}
