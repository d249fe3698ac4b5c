/** Database servers, tenants' databases and database users in the control plane's tables. */
import type { Knex } from 'knex';
import type { DbEngine, DbServerRef, Grant } from '../../queues/databases/ops.ts';
import { getHostByName, hostRefOf } from '../hosts/store.ts';
import { conflict } from '../plugins/errors.ts';

export interface DbServerRow {
  id: string;
  name: string;
  engine: DbEngine;
  host: string;
  address: string;
  port: number;
  cluster: string;
  is_default: boolean;
  created_at: Date;
}

export interface DatabaseRow {
  id: string;
  name: string;
  full_name: string;
  owner_id: string;
  server_id: string;
  /** Not columns: the last health check's measurement, when the view adds it. */
  size_bytes?: number | null;
  size_at?: Date | null;
  last_error: string | null;
  applied_at: Date | null;
  created_at: Date;
}

export interface DatabaseUserRow {
  id: string;
  name: string;
  full_name: string;
  owner_id: string;
  server_id: string;
  verifier: string;
  /** Canonical CIDRs the user may connect from; empty: anywhere. */
  allow_from: string[];
  last_error: string | null;
  applied_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export const DEFAULT_PORTS: Record<DbEngine, number> = { postgresql: 5432, mariadb: 3306 };

export async function serverRefOf(db: Knex, server: DbServerRow): Promise<DbServerRef> {
  const host = await getHostByName(db, server.host);
  if (!host) throw conflict(`the host ${server.host} of database server ${server.name} no longer exists`);
  return { name: server.name, engine: server.engine, host: await hostRefOf(db, host), port: server.port, cluster: server.cluster };
}

export const getServerById = (db: Knex, id: string): Promise<DbServerRow | undefined> => db('db_servers').where({ id }).first();

/** The grants of one database, as database.apply carries them. */
export async function grantsOf(db: Knex, databaseId: string): Promise<Grant[]> {
  const rows: { user: string; access: 'rw' | 'ro' }[] = await db('database_grants as g')
    .join('database_users as u', 'u.id', 'g.user_id')
    .where('g.database_id', databaseId)
    .orderBy('u.full_name')
    .select('u.full_name as user', 'g.access');
  return rows;
}

/** Every database's grants (database id → grants, as grantsOf orders them): one query for a whole health round. */
export async function grantsByDatabase(db: Knex): Promise<Map<string, Grant[]>> {
  const rows: { databaseId: string; user: string; access: 'rw' | 'ro' }[] = await db('database_grants as g')
    .join('database_users as u', 'u.id', 'g.user_id')
    .orderBy('u.full_name')
    .select('g.database_id as databaseId', 'u.full_name as user', 'g.access');
  const byDatabase = new Map<string, Grant[]>();
  for (const { databaseId, user, access } of rows) byDatabase.set(databaseId, [...(byDatabase.get(databaseId) ?? []), { user, access }]);
  return byDatabase;
}

/** The server-side name: the tenant's name, `_`, the name the tenant chose. */
export const fullName = (tenant: string, name: string) => `${tenant}_${name}`;
