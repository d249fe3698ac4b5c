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

/** PostgreSQL when a URL is given, otherwise PGlite in the data directory (or in memory for tests). */
export function openDatabase(options: { url: string | null; dataDir?: string; inMemory?: boolean }): Database {
  if (options.url) {
    const knex = knexFactory({
      client: 'pg',
      connection: { connectionString: options.url, connectionTimeoutMillis: 3_000 },
      pool: { min: 0, max: 10 },
      acquireConnectionTimeout: 5_000,
    });
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

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004']);

/** True when an error means "the database cannot be reached now", as opposed to a bad query. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: string; name?: string; message?: string } | null;
  if (!e) return false;
  if (e.code && UNAVAILABLE_CODES.has(e.code)) return true;
  if (e.name === 'KnexTimeoutError') return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(e.message ?? '');
}
