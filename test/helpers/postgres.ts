import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The local server as a superuser; `UP_TEST_DATABASE_URL` points elsewhere. */
export const postgresAdminUrl = () => process.env.UP_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresAdminUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A throwaway database, so no test sees another's rows; cleanup drops it. */
export async function freshDatabase(): Promise<{ url: string; name: string; cleanup(): Promise<void> }> {
  const name = `up_test_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(postgresAdminUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    cleanup: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
