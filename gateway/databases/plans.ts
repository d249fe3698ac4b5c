/** The jobs of the databases domain, with snapshots of the server (never a password). */
import type { Knex } from 'knex';
import {
  databaseApply,
  databaseDelete,
  databaseDump,
  databaseImport,
  databaseUserApply,
  databaseUserDelete,
  dbServerSetup,
} from '../../queues/databases/ops.ts';
import { serviceDirs } from '../certificates/service.ts';
import type { OwnedKind } from '../domain.ts';
import type { HostRow } from '../hosts/store.ts';
import { plan, type JobPlan } from '../plan.ts';
import { conflict } from '../plugins/errors.ts';
import { getServerById, grantsOf, serverRefOf, type DatabaseRow, type DatabaseUserRow, type DbServerRow } from './store.ts';

/** Where the host's service certificate for the engine is installed (`up certs create --service <engine>`). */
export function tlsFilesOf(host: HostRow, server: DbServerRow): { cert: string; key: string } {
  const dirs = serviceDirs(host);
  if ('error' in dirs) throw conflict(dirs.error);
  const dir = `${dirs.deployDir}/${server.engine}`;
  return { cert: `${dir}/fullchain.pem`, key: `${dir}/privkey.pem` };
}

export async function setupJob(db: Knex, server: DbServerRow, host: HostRow): Promise<JobPlan> {
  return plan({
    op: dbServerSetup,
    payload: { server: await serverRefOf(db, server), listen: server.address, tls: tlsFilesOf(host, server) },
    target: `db-server/${server.name}`,
  });
}

/** host.prepare on a db-postgresql or db-mariadb host: the servers registered on it are set up. */
export const setupOf =
  (engine: DbServerRow['engine']) =>
  async (db: Knex, host: HostRow): Promise<JobPlan | null> => {
    const server: DbServerRow | undefined = await db('db_servers').where({ host: host.name, engine }).orderBy('name').first();
    return server ? setupJob(db, server, host) : null;
  };

async function serverOf(db: Knex, serverId: string): Promise<DbServerRow> {
  const server = await getServerById(db, serverId);
  if (!server) throw conflict('the database server no longer exists');
  return server;
}

export async function databaseApplyJob(db: Knex, database: DatabaseRow): Promise<JobPlan> {
  const server = await serverOf(db, database.server_id);
  return plan({
    op: databaseApply,
    payload: {
      server: await serverRefOf(db, server),
      database: { id: database.id, name: database.full_name },
      grants: await grantsOf(db, database.id),
    },
    target: `database/${database.full_name}@${server.name}`,
  });
}

export async function databaseDeleteJob(db: Knex, database: DatabaseRow): Promise<JobPlan> {
  const server = await serverOf(db, database.server_id);
  return plan({
    op: databaseDelete,
    payload: { server: await serverRefOf(db, server), database: { id: database.id, name: database.full_name } },
    target: `database/${database.full_name}@${server.name}`,
  });
}

export async function databaseDumpJob(db: Knex, database: DatabaseRow): Promise<JobPlan> {
  const server = await serverOf(db, database.server_id);
  return plan({
    op: databaseDump,
    payload: { server: await serverRefOf(db, server), database: { id: database.id, name: database.full_name } },
    target: `database/${database.full_name}@${server.name}`,
  });
}

export async function databaseImportJob(
  db: Knex,
  database: DatabaseRow,
  file: { sha256: string; bytes: number; gzip: boolean },
): Promise<JobPlan> {
  const server = await serverOf(db, database.server_id);
  return plan({
    op: databaseImport,
    payload: { server: await serverRefOf(db, server), database: { id: database.id, name: database.full_name }, file },
    target: `database/${database.full_name}@${server.name}`,
  });
}

export async function userApplyJob(db: Knex, user: DatabaseUserRow): Promise<JobPlan> {
  const server = await serverOf(db, user.server_id);
  return plan({
    op: databaseUserApply,
    payload: {
      server: await serverRefOf(db, server),
      user: { id: user.id, name: user.full_name, verifier: user.verifier, allowFrom: user.allow_from ?? [] },
      databases: await db('database_grants as g')
        .join('databases as d', 'd.id', 'g.database_id')
        .where('g.user_id', user.id)
        .orderBy('d.full_name')
        .select('d.full_name as name', 'g.access'),
    },
    target: `database-user/${user.full_name}@${server.name}`,
  });
}

export async function userDeleteJob(db: Knex, user: DatabaseUserRow): Promise<JobPlan> {
  const server = await serverOf(db, user.server_id);
  const databases: string[] = await db('databases')
    .where({ owner_id: user.owner_id, server_id: user.server_id })
    .orderBy('full_name')
    .pluck('full_name');
  return plan({
    op: databaseUserDelete,
    payload: { server: await serverRefOf(db, server), user: { id: user.id, name: user.full_name }, databases },
    target: `database-user/${user.full_name}@${server.name}`,
  });
}

/**
 * Deleting a database: its row and grants go now, the server drops it; with `withUsers`, its
 * users that no longer have any database go too.
 */
export async function databaseRemoval(trx: Knex.Transaction, database: DatabaseRow, withUsers: boolean): Promise<JobPlan[]> {
  const users: DatabaseUserRow[] = await trx('database_users as u')
    .join('database_grants as g', 'g.user_id', 'u.id')
    .where('g.database_id', database.id)
    .select('u.*');
  const jobs = [await databaseDeleteJob(trx, database)];
  await trx('databases').where({ id: database.id }).delete();
  if (withUsers)
    for (const user of users) {
      if (await trx('database_grants').where({ user_id: user.id }).first('user_id')) continue;
      jobs.push(await userDeleteJob(trx, user));
      await trx('database_users').where({ id: user.id }).delete();
    }
  return jobs;
}

export async function userRemoval(trx: Knex.Transaction, user: DatabaseUserRow): Promise<JobPlan[]> {
  const databases: DatabaseRow[] = await trx('databases as d')
    .join('database_grants as g', 'g.database_id', 'd.id')
    .where('g.user_id', user.id)
    .select('d.*');
  const job = await userDeleteJob(trx, user);
  await trx('database_users').where({ id: user.id }).delete();
  // The databases it had lose its grant on the server too (DROP OWNED did; the stored grants are re-applied).
  return [job, ...(await Promise.all(databases.map((d) => databaseApplyJob(trx, d))))];
}

export const OWNED_DATABASE_KIND: OwnedKind = {
  kind: 'databases',
  table: 'databases',
  planRemoval: (trx, row) => databaseRemoval(trx, row as unknown as DatabaseRow, false),
};

export const OWNED_DATABASE_USER_KIND: OwnedKind = {
  kind: 'databaseUsers',
  table: 'database_users',
  planRemoval: (trx, row) => userRemoval(trx, row as unknown as DatabaseUserRow),
};
