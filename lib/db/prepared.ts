import type { Knex } from 'knex';
import pg from 'pg';

/**
 * A statement PostgreSQL parses and plans once per connection (a named prepared statement).
 * For the hot writes of the job spine, whose batches are small at moderate rates, planning
 * cost more than running them. Written with `?` placeholders like knex.raw; inside a
 * transaction, and on PGlite (the embedded default), it runs as a plain knex.raw query.
 * Its result columns must be listed, not `*`: a cached plan cannot change its result type.
 */
export function prepared<Row = Record<string, unknown>>(name: string, sql: string) {
  let n = 0;
  const text = sql.replace(/\?/g, () => `$${++n}`);
  return async (db: Knex, values: unknown[]): Promise<Row[]> => {
    const plain = async () => ((await db.raw(sql, values as Knex.RawBinding[])) as { rows: Row[] }).rows;
    if (db.isTransaction) return plain();
    const connection: unknown = await db.client.acquireConnection();
    if (!(connection instanceof pg.Client)) {
      await db.client.releaseConnection(connection);
      return plain();
    }
    try {
      return (await connection.query<Row & pg.QueryResultRow>({ name, text, values })).rows;
    } finally {
      await db.client.releaseConnection(connection);
    }
  };
}
