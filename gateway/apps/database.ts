/**
 * The database attached to an app: one of the owner's databases, one of their database users
 * granted on it, and the secret that holds that user's password. The replicas get it as
 * DATABASE_URL, composed here (the only place the password is in the clear besides the handler
 * that delivers it) and kept as a secret of the owner's that up maintains,
 * `up-<app>-database-url`: it travels sealed and reaches the container as any secret does.
 */
import type { Knex } from 'knex';
import type { DbEngine } from '../../queues/databases/ops.ts';
import { InputError } from '../../lib/errors.ts';
import type { DatabaseRow, DatabaseUserRow, DbServerRow } from '../databases/store.ts';
import { HttpError } from '../plugins/errors.ts';
import { OWN_SECRET_PREFIX, openSecret, putSecret, type SecretRow, type SecretUse } from '../secrets/store.ts';
import type { AppRow } from './store.ts';

export interface AppDatabase {
  /** The names the owner gave them (without the `<user>_` prefix). */
  database: string;
  user: string;
  passwordSecret: string;
}

export const DATABASE_URL = 'DATABASE_URL';
export const databaseUrlSecret = (app: Pick<AppRow, 'name'>) => `${OWN_SECRET_PREFIX}${app.name}-database-url`;

/** A URL the usual clients read (libpq, Django's dj-database-url, SQLAlchemy, mysqlclient): TLS required. */
export function databaseUrl(
  engine: DbEngine,
  to: { user: string; password: string; address: string; port: number; database: string },
): string {
  const scheme = engine === 'postgresql' ? 'postgresql' : 'mysql';
  const tls = engine === 'postgresql' ? 'sslmode=require' : 'ssl-mode=REQUIRED';
  const host = to.address.includes(':') ? `[${to.address}]` : to.address;
  const credentials = `${encodeURIComponent(to.user)}:${encodeURIComponent(to.password)}`;
  return `${scheme}://${credentials}@${host}:${to.port}/${encodeURIComponent(to.database)}?${tls}`;
}

interface Attached {
  database: DatabaseRow;
  user: DatabaseUserRow;
  server: DbServerRow;
  password: SecretRow;
}

/**
 * What the attachment names, each the owner's and usable together, or a 400/422 naming the
 * field: another user's database answers as one nobody has.
 */
async function attached(db: Knex, ownerId: string, wanted: AppDatabase, env: Record<string, string>): Promise<Attached> {
  if (DATABASE_URL in env) throw new InputError('body/database', `gives the replicas ${DATABASE_URL}, which env sets too: unset one`);
  const database: DatabaseRow | undefined = await db('databases').where({ owner_id: ownerId, name: wanted.database }).first();
  if (!database) throw new InputError('body/database/database', `you have no database named ${wanted.database}`, 422);
  const user: DatabaseUserRow | undefined = await db('database_users')
    .where({ owner_id: ownerId, name: wanted.user, server_id: database.server_id })
    .first();
  if (!user)
    throw new InputError('body/database/user', `you have no database user ${wanted.user} on the server of ${wanted.database}`, 422);
  const grant = await db('database_grants').where({ database_id: database.id, user_id: user.id }).first();
  if (!grant)
    throw new InputError(
      'body/database/user',
      `${wanted.user} has no access to ${wanted.database}: up databases grant ${wanted.database} ${wanted.user}`,
      422,
    );
  const password: SecretRow | undefined = await db('secrets').where({ owner_id: ownerId, name: wanted.passwordSecret }).first();
  if (!password)
    throw new InputError(
      'body/database/passwordSecret',
      `you have no secret named ${wanted.passwordSecret} (up secrets set ${wanted.passwordSecret})`,
    );
  const server: DbServerRow = await db('db_servers').where({ id: database.server_id }).first();
  return { database, user, server, password };
}

/** Checks an attachment before it is stored (create, edit). */
export async function checkAttachment(db: Knex, ownerId: string, wanted: AppDatabase, env: Record<string, string>): Promise<void> {
  await attached(db, ownerId, wanted, env);
}

/**
 * For a release: the app's DATABASE_URL brought up to date in its secret (a new version when the
 * database, user, server or password changed), and the use of it the replicas' spec names.
 */
export async function databaseUrlUses(trx: Knex.Transaction, app: AppRow, env: Record<string, string>): Promise<SecretUse[]> {
  if (!app.database) return [];
  const { database, user, server, password } = await attached(trx, app.owner_id, app.database, env).catch((error: unknown) => {
    // Stored attachments were valid; one that broke since (a grant revoked) fails the change, as a conflict.
    if (error instanceof InputError) throw new HttpError(409, 'conflict', `the app's database attachment: ${error.message}`);
    throw error;
  });
  const url = databaseUrl(server.engine, {
    user: user.full_name,
    password: openSecret(password).toString('utf8'),
    address: server.address,
    port: server.port,
    database: database.full_name,
  });
  await putSecret(trx, app.owner_id, databaseUrlSecret(app), Buffer.from(url, 'utf8'));
  return [{ name: databaseUrlSecret(app), env: DATABASE_URL }];
}
