import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';

export type { Knex };

export interface Database {
  knex: Knex;
  /** `pglite` is the embedded default: one connection, one process. */
  kind: 'pg' | 'pglite';
  close(): Promise<void>;
}

/**
 * How long anything waits for PostgreSQL. A database that stops answering (a frozen server,
 * a network that drops packets) must become a quick 503 and a recorder that retries, never
 * requests that hang as long as the outage. Every statement of the job spine takes
 * milliseconds; the largest (500 jobs or outcomes in one statement) tens of them.
 */
export const DATABASE_TIMEOUTS = {
  /** TCP connect, TLS and authentication: a local server answers in a few ms. */
  connectMs: 2_000,
  /** Server side: a statement that runs (or waits for a lock) this long is cancelled (57014), and the connection stays usable. */
  statementMs: 5_000,
  /**
   * Client side, a little longer than the server's own limit: reached only when the server
   * says nothing at all. Such a connection is dropped rather than reused (see `idle`).
   */
  queryMs: 6_000,
  /** Waiting for a free connection of the pool. */
  acquireMs: 5_000,
  /** A transaction left open by a client that stopped (frozen, partitioned) releases its locks. */
  idleInTransactionMs: 15_000,
  /** TCP keepalive on idle connections: a peer that vanished (host down, partition) is noticed. */
  keepAliveMs: 10_000,
} as const;

/** What opened a PostgreSQL knex, so that migrations can open a twin without the timeouts. */
const urls = new WeakMap<Knex, string>();

/** PostgreSQL when a URL is given, otherwise PGlite in the data directory (or in memory for tests). */
export function openDatabase(options: { url: string | null; dataDir?: string; inMemory?: boolean }): Database {
  if (options.url) {
    const knex = openPostgres(options.url, true);
    urls.set(knex, options.url);
    return { knex, kind: 'pg', close: () => knex.destroy() };
  }
  let connection: object = {};
  if (!options.inMemory) {
    if (!options.dataDir) throw new Error('the embedded database needs a data directory');
    const filename = join(options.dataDir, 'pgdata');
    mkdirSync(filename, { recursive: true, mode: 0o700 });
    connection = { filename };
  }
  const knex = knexFactory({ client: ClientPgLite as unknown as typeof knexFactory.Client, dialect: 'postgres', connection });
  return { knex, kind: 'pglite', close: () => knex.destroy() };
}

function openPostgres(url: string, bounded: boolean): Knex {
  const t = DATABASE_TIMEOUTS;
  return knexFactory({
    client: 'pg',
    connection: {
      connectionString: url,
      connectionTimeoutMillis: t.connectMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: t.keepAliveMs,
      ...(bounded
        ? { statement_timeout: t.statementMs, query_timeout: t.queryMs, idle_in_transaction_session_timeout: t.idleInTransactionMs }
        : {}),
    },
    pool: { min: 0, max: bounded ? 10 : 1, validate: idle },
    acquireConnectionTimeout: t.acquireMs,
  });
}

/**
 * A connection goes back to the pool after its query timed out on the client side with the
 * query still unanswered: the next one would queue behind it. The pool drops it instead.
 */
function idle(connection: unknown): boolean {
  return (connection as { readyForQuery?: boolean }).readyForQuery !== false;
}

/**
 * Runs `work` on a connection without the statement and query timeouts, for what may
 * legitimately run for minutes (a migration rewriting a table); PGlite has none to lift.
 */
export async function withoutTimeouts<T>(knex: Knex, work: (knex: Knex) => Promise<T>): Promise<T> {
  const url = urls.get(knex);
  if (!url) return work(knex);
  const unbounded = openPostgres(url, false);
  try {
    return await work(unbounded);
  } finally {
    await unbounded.destroy();
  }
}

/**
 * SQLSTATEs that mean "the database cannot do this now, try again", whatever the statement:
 * 08 connection exceptions, 53 insufficient resources (too many clients, disk full, out of
 * memory), 57 operator intervention (shutdown, crash recovery, a statement or idle timeout,
 * 57P04 database dropped), 55000/55006/55P03 objects in use or locked, 58 system errors,
 * 25006 a read-only server (a failover in progress), 40001/40P01 a serialisation failure
 * or deadlock, which the same statement survives when tried again.
 */
const UNAVAILABLE_CLASSES = ['08', '53', '57', '58'];
const UNAVAILABLE_CODES = new Set([
  '55000',
  '55006',
  '55P03',
  '25006',
  '40001',
  '40P01',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
]);
/**
 * pg's and knex's own errors carry no code: a connect timeout ('timeout expired'), a query
 * timeout ('Query read timeout'), a lost or ended connection, an exhausted pool. Knex puts
 * the statement before the message of a query's error.
 */
const UNAVAILABLE_MESSAGE =
  /\btimeout expired$|\bQuery read timeout$|Connection terminated|connection timeout|Client has encountered a connection error|Client was closed|not queryable|Connection ended unexpectedly/i;

/** True when an error means "the database cannot be reached now", as opposed to a bad query. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; name?: string; message?: string } | null;
  if (!e || typeof e !== 'object') return false;
  if (
    typeof e.code === 'string' &&
    (UNAVAILABLE_CODES.has(e.code) || (/^[0-9A-Z]{5}$/.test(e.code) && UNAVAILABLE_CLASSES.includes(e.code.slice(0, 2))))
  )
    return true;
  if (e.name === 'KnexTimeoutError') return true;
  return UNAVAILABLE_MESSAGE.test(e.message ?? '');
}

/**
 * True when PostgreSQL refused the values themselves (class 22, data exception: a NUL byte
 * in text, an unpaired surrogate in JSON, a number out of range): the same statement with the
 * same values will fail again, however often it is tried.
 */
export function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code);
}
