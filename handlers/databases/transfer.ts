/**
 * Dumps and imports. A dump runs as up's control account (it must read everything) with gzip
 * on the host, its output streamed into the content store. An import never runs as that
 * account: it gets a temporary login that may use the one database and nothing else, and the
 * client is made unable to leave it:
 * - PostgreSQL: a role `<db>-imp` (NOSUPERUSER, member of the database's owner role and of the
 *   group `up_import`, whose only door is a `local … +up_import scram-sha-256` line of pg_hba),
 *   so COPY … PROGRAM, SET ROLE to another tenant's role and CONNECT elsewhere are refused by
 *   the server; psql starts in `\restrict` mode with a key only this handler knows, so every
 *   backslash command (`\connect`, `\!`, `\o`, `\copy`) is refused by the client; the file's own
 *   `\restrict`/`\unrestrict` lines (pg_dump writes them) are dropped. One transaction: a
 *   failed import changes nothing.
 * - MariaDB: an account `up_imp_<hash of the database>`@localhost granted ALL on the one schema only (no
 *   FILE, no SUPER), the client in `--sandbox` with LOAD DATA LOCAL off.
 * The temporary password goes in a 0600 file on the host (never in argv or a message) and
 * both the file and the login go when the import ends, whatever happened. One import runs at a
 * time per database (a host lock).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable, Transform, type Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CommandError, sh, type Executor } from '../../lib/exec/index.ts';
import { PermanentError, RetryableError } from '../../lib/errors.ts';
import type { DbServerRef } from '../../queues/databases/ops.ts';
import {
  MARIADB_SOCKET,
  PG_CONTROL_ROLE,
  PG_IMPORT_GROUP,
  PG_SOCKET_DIR,
  checkedName,
  mariadb,
  ownerRole,
  psql,
  psqlSet,
  quoteGrantSchema,
  quoteText,
} from './sql.ts';

const SECRETS_DIR = '/run/up-import';
const FAILED = 'up-dump-failed';
const COMMAND_TIMEOUT_MS = 850_000;

/** pg_dump / mariadb-dump on the host, gzipped there, into `out`. */
export async function dumpDatabase(exec: Executor, server: DbServerRef, name: string, out: Writable, signal?: AbortSignal): Promise<void> {
  const db = checkedName(name, server.engine, 'database');
  const dump =
    server.engine === 'postgresql'
      ? sh`pg_dump --no-owner --no-privileges -h ${PG_SOCKET_DIR} -p ${server.port} -U ${PG_CONTROL_ROLE} -d ${db}`
      : sh`mariadb-dump --no-defaults -u root -S ${MARIADB_SOCKET} --single-transaction --routines --skip-dump-date ${db}`;
  // sh has no pipefail: a failing dump says so on stderr, which fails the job.
  const run = await exec.run(sh`( ${dump} || echo ${FAILED} >&2 ) | gzip -c`, {
    stdout: out,
    signal,
    timeoutMs: COMMAND_TIMEOUT_MS,
  });
  if (run.stderr.includes(FAILED)) {
    const text = run.stderr.replace(FAILED, '').trim().slice(0, 600);
    throw new RetryableError(`${server.engine} dump of ${db} on ${exec.host} failed: ${text}`, { code: 'DUMP_FAILED' });
  }
}

/** Drops a file's lines that would toggle psql's restricted mode (pg_dump ≥ 15.14 writes them). */
export function withoutRestrict(): Transform {
  let rest = '';
  const keep = (line: string) => !/^\\(un)?restrict(\s|$)/.test(line);
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const lines = (rest + chunk.toString('latin1')).split('\n');
      rest = lines.pop() ?? '';
      const kept = lines.filter(keep);
      done(null, kept.length ? Buffer.from(`${kept.join('\n')}\n`, 'latin1') : undefined);
    },
    flush(done) {
      done(null, rest && keep(rest) ? Buffer.from(rest, 'latin1') : undefined);
    },
  });
}

/** The SQL as the client reads it: restricted mode first (PostgreSQL), then the file, inflated. */
function sqlStream(file: string, gzip: boolean, prefix: string, counter: { bytes: number }): Readable {
  const source = createReadStream(file);
  const plain = gzip ? source.pipe(createGunzip()) : source;
  source.on('error', (error) => plain.destroy(error));
  const filtered = prefix ? plain.pipe(withoutRestrict()) : plain;
  if (filtered !== plain) plain.on('error', (error: Error) => filtered.destroy(error));
  return Readable.from(
    (async function* () {
      if (prefix) yield Buffer.from(prefix);
      for await (const chunk of filtered as AsyncIterable<Buffer>) {
        counter.bytes += chunk.length;
        yield chunk;
      }
    })(),
  );
}

const secret = () => randomBytes(24).toString('hex');

/** The first lines of what the client said, for the job's error (they hold no password). */
function importError(engine: string, db: string, error: unknown): Error {
  if (error instanceof CommandError) {
    const lines = error.stderr
      .split('\n')
      .filter((l) => l.trim().length > 0)
      .slice(0, 8)
      .join('\n')
      .slice(0, 1500);
    return new PermanentError(`${engine} import into ${db} failed: ${lines || `exit ${error.exitCode}`}`, {
      code: 'IMPORT_FAILED',
    });
  }
  return error as Error;
}

export async function importDatabase(
  exec: Executor,
  server: DbServerRef,
  name: string,
  file: { path: string; gzip: boolean },
  signal?: AbortSignal,
): Promise<{ bytes: number }> {
  const db = checkedName(name, server.engine, 'database');
  // One import at a time per database: its temporary login has one name, and a second import
  // would drop the first one's (what a crashed handler left is dropped the same way).
  const key = createHash('sha256').update(`${server.engine}:${server.port}:${db}`).digest('hex').slice(0, 24);
  return exec.withLock(`db-import-${key}`, () => importLocked(exec, server, db, key, file, signal));
}

async function importLocked(
  exec: Executor,
  server: DbServerRef,
  db: string,
  key: string,
  file: { path: string; gzip: boolean },
  signal?: AbortSignal,
): Promise<{ bytes: number }> {
  const password = secret();
  const secretFile = `${SECRETS_DIR}/${randomBytes(8).toString('hex')}`;
  await exec.run(sh`install -d -m 0700 ${SECRETS_DIR}`);
  const counter = { bytes: 0 };
  if (server.engine === 'postgresql') {
    const login = `${db}-imp`;
    const vars = [psqlSet('db', db), psqlSet('owner', ownerRole(db)), psqlSet('login', login), psqlSet('group', PG_IMPORT_GROUP)].join(
      '\n',
    );
    await pgDropLogin(exec, server, db, login, signal);
    await psql(
      exec,
      server,
      'postgres',
      `${vars}
${psqlSet('pw', password)}
SELECT format('CREATE ROLE %I NOLOGIN', :'group') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'group') \\gexec
CREATE ROLE :"login" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 1 PASSWORD :'pw' VALID UNTIL 'infinity';
GRANT :"group" TO :"login";
GRANT :"owner" TO :"login";
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"login";
ALTER ROLE :"login" IN DATABASE :"db" SET role = :'owner';
`,
      signal,
    );
    try {
      await exec.putFile(secretFile, `*:*:*:${login}:${password}\n`, { mode: 0o600 });
      const restrictKey = secret();
      await exec
        .run(
          sh`PGPASSFILE=${secretFile} psql -X -q -v ON_ERROR_STOP=1 --single-transaction -h ${PG_SOCKET_DIR} -p ${server.port} -U ${login} -d ${db} -f -`,
          { stdin: sqlStream(file.path, file.gzip, `\\restrict ${restrictKey}\n`, counter), signal, timeoutMs: COMMAND_TIMEOUT_MS },
        )
        .catch((error) => {
          throw importError('postgresql', db, error);
        });
    } finally {
      await exec.run(sh`rm -f -- ${secretFile}`).catch(() => undefined);
      await pgDropLogin(exec, server, db, login);
    }
  } else {
    const login = `up_imp_${key.slice(0, 16)}`;
    const account = `${quoteText(login)}@'localhost'`;
    await mariadb(
      exec,
      server,
      `DROP USER IF EXISTS ${account};\nCREATE USER ${account} IDENTIFIED BY ${quoteText(password)};\nGRANT ALL PRIVILEGES ON ${quoteGrantSchema(db)}.* TO ${account};`,
      signal,
    );
    try {
      await exec.putFile(secretFile, `[client]\nuser=${login}\npassword=${password}\n`, { mode: 0o600 });
      await exec
        .run(sh`mariadb --defaults-file=${secretFile} -S ${MARIADB_SOCKET} --sandbox --local-infile=0 --batch ${db}`, {
          stdin: sqlStream(file.path, file.gzip, '', counter),
          signal,
          timeoutMs: COMMAND_TIMEOUT_MS,
        })
        .catch((error) => {
          throw importError('mariadb', db, error);
        });
    } finally {
      await exec.run(sh`rm -f -- ${secretFile}`).catch(() => undefined);
      const sessions = await mariadb(exec, server, `SELECT ID FROM information_schema.processlist WHERE User = ${quoteText(login)};`).catch(
        () => [],
      );
      const kills = sessions.map((r) => Number(r[0])).filter(Number.isSafeInteger);
      await mariadb(exec, server, [...kills.map((id) => `KILL CONNECTION ${id};`), `DROP USER IF EXISTS ${account};`].join('\n'));
    }
  }
  return { bytes: counter.bytes };
}

/** The temporary login goes: what it made becomes the owner's, its sessions close, then the role. */
async function pgDropLogin(exec: Executor, server: DbServerRef, db: string, login: string, signal?: AbortSignal): Promise<void> {
  const vars = [psqlSet('db', db), psqlSet('owner', ownerRole(db)), psqlSet('login', login)].join('\n');
  const [present] = await psql(exec, server, 'postgres', `${vars}\nSELECT count(*) FROM pg_roles WHERE rolname = :'login';\n`, signal);
  if (present === '0') return;
  await psql(
    exec,
    server,
    'postgres',
    `${vars}\nSELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :'login';\n`,
    signal,
  );
  await psql(exec, server, db, `${vars}\nREASSIGN OWNED BY :"login" TO :"owner";\nDROP OWNED BY :"login";\n`, signal);
  await psql(exec, server, 'postgres', `${vars}\nDROP OWNED BY :"login";\nDROP ROLE :"login";\n`, signal);
}
