/**
 * Database servers (admin) and tenants' databases, database users and the grants between them.
 * Every change is written with its jobs in one transaction; the plain password of a user is
 * turned into a verifier here and goes no further.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Knex } from 'knex';
import { Type } from 'typebox';
import { NAME_LIMITS, type DbEngine, type Grant } from '../../queues/databases/ops.ts';
import { networkProblem } from '../../queues/databases/addresses.ts';
import { parseNetwork, type Network } from '../../lib/validate/address.ts';
import { checkAddress } from '../../lib/validate/web.ts';
import type { GatewayContext } from '../context.ts';
import { getHostByName, type HostRow } from '../hosts/store.ts';
import type { JobRow } from '../jobs-store.ts';
import { keyset, mapPage, pageOf } from '../pages.ts';
import { requesterOf } from '../plan.ts';
import type { Caller } from '../plugins/auth.ts';
import { HttpError, conflict, notFound } from '../plugins/errors.ts';
import { enforceLimit } from '../plugins/limits.ts';
import { ownedByName, scopeToCaller } from '../plugins/scope.ts';
import { errorResponses, Page, pageQuery, refTo } from '../schemas.ts';
import { jobView } from '../views.ts';
import { DATABASE_RESOURCE, databaseKey, usedDatabaseMb } from './health.ts';
import { generatePassword, verifierFor } from './passwords.ts';
import { databaseApplyJob, databaseDumpJob, databaseImportJob, databaseRemoval, setupJob, userApplyJob, userRemoval } from './plans.ts';
import { SqlUpload, acceptSqlStreams, collectDatabaseFiles, dumpFile, importLimit, readDump, receiveImport } from './transfer.ts';
import { DEFAULT_PORTS, fullName, type DatabaseRow, type DatabaseUserRow, type DbServerRow } from './store.ts';
import {
  DatabaseCreate,
  DatabaseGrant,
  DatabasePassword,
  DatabaseUserEdit,
  DatabaseUserCreate,
  DatabaseUserView,
  DatabaseView,
  DbServerCreate,
  DbServerView,
  SERVER_NAME,
  SHORT_NAME,
  databaseUserView,
  databaseView,
  dbServerView,
} from './views.ts';

const admin = { access: 'admin' as const };
const ownedDatabases = (idParam?: string) => ({
  owned: { kind: 'databases', table: 'databases', idColumn: 'name', ...(idParam ? { idParam } : {}) },
});
const ownedUsers = (idParam?: string) => ({
  owned: { kind: 'databaseUsers', table: 'database_users', idColumn: 'name', ...(idParam ? { idParam } : {}) },
});
const ServerParams = Type.Object({ server: Type.String({ pattern: SERVER_NAME }) });
const DatabaseParams = Type.Object({ database: Type.String({ pattern: SHORT_NAME }) });
const UserParams = Type.Object({ user: Type.String({ pattern: SHORT_NAME }) });
const OwnerQuery = Type.Object(
  {
    owner: Type.Optional(
      Type.String({ pattern: '^[a-z][a-z0-9_]{0,31}$', description: 'admins: whose (needed when several users have this name)' }),
    ),
  },
  { additionalProperties: false },
);
const DB_ROLES: Record<DbEngine, string> = { postgresql: 'db-postgresql', mariadb: 'db-mariadb' };

const badRequest = (field: string, message: string) => new HttpError(400, 'bad_request', `${field} ${message}`, [`${field} ${message}`]);

/** Client networks as canonical CIDRs, each checked as a value; duplicates go. */
function allowFromOf(raw: readonly string[], engine: DbEngine): string[] {
  return [
    ...new Set(
      raw.map((entry, i) => {
        const problem = networkProblem(entry, engine);
        if (problem) throw badRequest(`body/allowFrom/${i}`, `${JSON.stringify(entry)} ${problem}`);
        return (parseNetwork(entry) as Network).text;
      }),
    ),
  ];
}

export const databaseRoutes: FastifyPluginAsyncTypebox<GatewayContext> = async (app, { db, outbox }) => {
  const jobsOf = (jobs: JobRow[], caller: Caller) => jobs.map((j) => jobView(j, caller));
  acceptSqlStreams(app);

  async function tenantName(userId: string): Promise<string> {
    const user: { name: string } | undefined = await db('users').where({ id: userId }).first('name');
    if (!user) throw new HttpError(401, 'unauthorized', 'the calling user no longer exists');
    return user.name;
  }

  /** The server a new database or user goes on: the one named, or the engine's default. */
  async function chooseServer(body: { engine?: DbEngine; server?: string }): Promise<DbServerRow> {
    if (body.server) {
      const server: DbServerRow | undefined = await db('db_servers').where({ name: body.server }).first();
      if (!server) throw notFound('database server');
      if (body.engine && body.engine !== server.engine)
        throw badRequest('body/engine', `does not match server ${server.name} (${server.engine})`);
      return server;
    }
    if (!body.engine) throw badRequest('body/engine', 'is required when no server is named');
    const server: DbServerRow | undefined = await db('db_servers').where({ engine: body.engine, is_default: true }).first();
    if (!server) throw new HttpError(409, 'conflict', `no default ${body.engine} server: name one with server`);
    return server;
  }

  function checkLength(full: string, engine: DbEngine, kind: 'database' | 'user'): void {
    const limit = NAME_LIMITS[engine][kind];
    if (full.length > limit)
      throw badRequest('body/name', `makes the ${engine} ${kind} name ${full} longer than ${limit} characters: choose a shorter name`);
  }

  const owned = <T extends { owner_id: string }>(table: string, what: string, caller: Caller, name: string, owner?: string) =>
    ownedByName<T>(db, table, what, caller, name, owner);

  async function showDatabase(row: DatabaseRow) {
    const server: DbServerRow = await db('db_servers').where({ id: row.server_id }).first();
    const users = await db('database_grants as g')
      .join('database_users as u', 'u.id', 'g.user_id')
      .where('g.database_id', row.id)
      .orderBy('u.name')
      .select('u.name', 'u.full_name', 'g.access');
    const health: { measurements: { sizeBytes?: number } | null; checked_at: Date } | undefined = await db('health')
      .where({ resource_type: DATABASE_RESOURCE, resource_key: databaseKey(row, server) })
      .first('measurements', 'checked_at');
    const size =
      typeof health?.measurements?.sizeBytes === 'number' ? { size_bytes: health.measurements.sizeBytes, size_at: health.checked_at } : {};
    return databaseView({ ...row, ...size }, { owner: await tenantName(row.owner_id), server, users });
  }

  async function showUser(row: DatabaseUserRow) {
    const server: DbServerRow = await db('db_servers').where({ id: row.server_id }).first();
    const databases = await db('database_grants as g')
      .join('databases as d', 'd.id', 'g.database_id')
      .where('g.user_id', row.id)
      .orderBy('d.name')
      .select('d.name', 'd.full_name', 'g.access');
    return databaseUserView(row, { owner: await tenantName(row.owner_id), server, databases });
  }

  /** Full names are unique per server across databases and users (PostgreSQL roles and databases share clients' minds). */
  async function nameFree(trx: Knex, serverId: string, full: string): Promise<void> {
    const taken =
      (await trx('databases').where({ server_id: serverId, full_name: full }).first('id')) ||
      (await trx('database_users').where({ server_id: serverId, full_name: full }).first('id'));
    if (taken) throw conflict(`the name ${full} is taken on this server: choose another`);
  }

  /** The users a new database is granted to from the start: the owner's, on its server, each once. */
  async function granteesOn(server: DbServerRow, ownerId: string, grants: readonly Grant[]) {
    const names = grants.map((g) => g.user);
    const duplicate = names.find((name, i) => names.indexOf(name) !== i);
    if (duplicate) throw badRequest('body/users', `names ${duplicate} twice`);
    const rows: DatabaseUserRow[] = names.length ? await db('database_users').where({ owner_id: ownerId }).whereIn('name', names) : [];
    return grants.map(({ user: name, access }) => {
      const user = rows.find((r) => r.name === name);
      if (!user) throw badRequest('body/users', `names ${name}: you have no database user of that name`);
      if (user.server_id !== server.id) throw conflict(`database user ${name} is on another server than ${server.name}`);
      return { user, access };
    });
  }

  // ---------------------------------------------------------------- servers (admin)

  app.post(
    '/v1/db-servers',
    {
      config: admin,
      schema: {
        operationId: 'createDbServer',
        tags: ['databases'],
        summary: 'Register a database server on a host of role db-postgresql or db-mariadb, and set it up there.',
        body: refTo(DbServerCreate),
        response: { 202: Type.Ref('DbServerChange'), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const address = checkAddress(body.address, 'body/address');
      const host: HostRow | undefined = await getHostByName(db, body.host);
      if (!host) throw notFound('host');
      if (!host.roles.includes(DB_ROLES[body.engine])) throw conflict(`host ${host.name} does not have the role ${DB_ROLES[body.engine]}`);
      const id = randomUUID();
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        if (await trx('db_servers').where({ name: body.name }).first('id')) throw conflict(`a database server named ${body.name} exists`);
        if (await trx('db_servers').where({ host: host.name, engine: body.engine }).first('id'))
          throw conflict(`host ${host.name} already has a ${body.engine} server`);
        if (body.default) await trx('db_servers').where({ engine: body.engine }).update({ is_default: false });
        await trx('db_servers').insert({
          id,
          name: body.name,
          engine: body.engine,
          host: host.name,
          address,
          port: body.port ?? DEFAULT_PORTS[body.engine],
          cluster: body.cluster ?? 'main',
          is_default: body.default ?? false,
        });
        return [await setupJob(trx, await trx('db_servers').where({ id }).first(), host)];
      });
      const server: DbServerRow = await db('db_servers').where({ id }).first();
      return reply
        .code(202)
        .header('location', `/v1/db-servers/${server.name}`)
        .send({ server: dbServerView(server, 0), jobs: jobsOf(jobs, request.caller) });
    },
  );

  const countOn = async (server: DbServerRow) =>
    Number((await db('databases').where({ server_id: server.id }).count({ n: '*' }).first())?.n ?? 0);

  app.get(
    '/v1/db-servers',
    {
      config: admin,
      schema: {
        operationId: 'listDbServers',
        tags: ['databases'],
        summary: 'Database servers by name.',
        querystring: Type.Object(pageQuery({ default: 100, maximum: 500 }), { additionalProperties: false }),
        response: { 200: Page(DbServerView), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const rows: DbServerRow[] = await keyset(db('db_servers'), { columns: ['name'] }, { limit, after });
      return mapPage(
        pageOf(rows, limit, (s) => [s.name]),
        async (s) => dbServerView(s, await countOn(s)),
      );
    },
  );

  app.get(
    '/v1/db-servers/:server',
    {
      config: admin,
      schema: {
        operationId: 'getDbServer',
        tags: ['databases'],
        summary: 'One database server.',
        params: ServerParams,
        response: { 200: Type.Ref('DbServer'), ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const server: DbServerRow | undefined = await db('db_servers').where({ name: request.params.server }).first();
      if (!server) throw notFound('database server');
      return dbServerView(server, await countOn(server));
    },
  );

  app.post(
    '/v1/db-servers/:server/setup',
    {
      config: admin,
      schema: {
        operationId: 'setupDbServer',
        tags: ['databases'],
        summary: 'Set the server up on its host again (after a new certificate, or to repair its configuration).',
        params: ServerParams,
        response: { 202: Type.Ref('DbServerChange'), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const server: DbServerRow | undefined = await db('db_servers').where({ name: request.params.server }).first();
      if (!server) throw notFound('database server');
      const host = await getHostByName(db, server.host);
      if (!host) throw conflict(`the host ${server.host} no longer exists`);
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => [await setupJob(trx, server, host)]);
      return reply.code(202).send({ server: dbServerView(server, await countOn(server)), jobs: jobsOf(jobs, request.caller) });
    },
  );

  app.delete(
    '/v1/db-servers/:server',
    {
      config: admin,
      schema: {
        operationId: 'deleteDbServer',
        tags: ['databases'],
        summary: 'Forget a database server that holds no database and no user (nothing on the host is changed).',
        params: ServerParams,
        response: { 200: Type.Ref('DbServer'), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const server: DbServerRow | undefined = await db('db_servers').where({ name: request.params.server }).first();
      if (!server) throw notFound('database server');
      await db.transaction(async (trx) => {
        const used =
          (await trx('databases').where({ server_id: server.id }).first('id')) ||
          (await trx('database_users').where({ server_id: server.id }).first('id'));
        if (used) throw conflict(`database server ${server.name} still has databases or users: delete them first`);
        await trx('db_servers').where({ id: server.id }).delete();
      });
      return dbServerView(server, 0);
    },
  );

  // ---------------------------------------------------------------- databases

  const databaseChange = async (
    reply: { code(n: number): { send(b: unknown): unknown } },
    row: DatabaseRow,
    jobs: JobRow[],
    caller: Caller,
  ) => reply.code(202).send({ database: await showDatabase(row), jobs: jobsOf(jobs, caller) });

  app.post(
    '/v1/databases',
    {
      config: ownedDatabases(),
      schema: {
        operationId: 'createDatabase',
        tags: ['databases'],
        summary:
          'Create a database (<you>_<name> on the server); nobody may connect to it but the users granted here or later (PUT …/users).',
        body: refTo(DatabaseCreate),
        response: { 202: Type.Ref('DatabaseChange'), ...errorResponses(400, 401, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const server = await chooseServer(request.body);
      const tenant = await tenantName(request.caller.userId);
      const full = fullName(tenant, request.body.name);
      checkLength(full, server.engine, 'database');
      const grantees = await granteesOn(server, request.caller.userId, request.body.users ?? []);
      const id = randomUUID();
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        await enforceLimit(trx, request.caller, 'databases', trx('databases').where({ owner_id: request.caller.userId }));
        // Over the plan's size (as last measured), no new database: 422 naming databaseMb.
        await enforceLimit(trx, request.caller, 'databaseMb', (t) => usedDatabaseMb(t, request.caller.userId), 0);
        if (await trx('databases').where({ owner_id: request.caller.userId, name: request.body.name }).first('id'))
          throw conflict(`you already have a database named ${request.body.name}`);
        await nameFree(trx, server.id, full);
        await trx('databases').insert({
          id,
          name: request.body.name,
          full_name: full,
          owner_id: request.caller.userId,
          server_id: server.id,
        });
        if (grantees.length)
          await trx('database_grants').insert(grantees.map(({ user, access }) => ({ database_id: id, user_id: user.id, access })));
        return [await databaseApplyJob(trx, await trx('databases').where({ id }).first())];
      });
      return databaseChange(reply, await db('databases').where({ id }).first(), jobs, request.caller);
    },
  );

  app.get(
    '/v1/databases',
    {
      config: ownedDatabases(),
      schema: {
        operationId: 'listDatabases',
        tags: ['databases'],
        summary: 'Your databases by name (admins: all).',
        querystring: Type.Object(pageQuery({ default: 100, maximum: 500 }), { additionalProperties: false }),
        response: { 200: Page(DatabaseView), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const rows: DatabaseRow[] = await scopeToCaller(
        keyset(db('databases'), { columns: ['name', 'id'] }, { limit, after }),
        request.caller,
      );
      return mapPage(
        pageOf(rows, limit, (r) => [r.name, r.id]),
        showDatabase,
      );
    },
  );

  app.get(
    '/v1/databases/:database',
    {
      config: ownedDatabases('database'),
      schema: {
        operationId: 'getDatabase',
        tags: ['databases'],
        summary: 'One database: its server, address, users and size.',
        params: DatabaseParams,
        querystring: OwnerQuery,
        response: { 200: Type.Ref('Database'), ...errorResponses(401, 404, 409) },
      },
    },
    async (request) => showDatabase(await owned('databases', 'database', request.caller, request.params.database, request.query.owner)),
  );

  app.delete(
    '/v1/databases/:database',
    {
      config: ownedDatabases('database'),
      schema: {
        operationId: 'deleteDatabase',
        tags: ['databases'],
        summary: 'Delete a database and its data; with withUsers=true, its users that have no other database go too.',
        params: DatabaseParams,
        querystring: Type.Object(
          { ...OwnerQuery.properties, withUsers: Type.Optional(Type.Boolean({ default: false })) },
          { additionalProperties: false },
        ),
        response: { 202: Type.Ref('DatabaseChange'), ...errorResponses(401, 404, 409) },
      },
    },
    async (request, reply) => {
      const row = await owned<DatabaseRow>('databases', 'database', request.caller, request.params.database, request.query.owner);
      const shown = await showDatabase(row);
      const jobs = await outbox.submitPlans(requesterOf(request.caller), (trx) =>
        databaseRemoval(trx, row, request.query.withUsers ?? false),
      );
      return reply.code(202).send({ database: shown, jobs: jobsOf(jobs, request.caller) });
    },
  );

  app.put(
    '/v1/databases/:database/users',
    {
      config: ownedDatabases('database'),
      schema: {
        operationId: 'grantDatabase',
        tags: ['databases'],
        summary: 'Let one of your database users (on the same server) use this database, rw or ro; a second grant replaces the first.',
        params: DatabaseParams,
        body: refTo(DatabaseGrant),
        response: { 202: Type.Ref('DatabaseChange'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const database = await owned<DatabaseRow>('databases', 'database', request.caller, request.params.database);
      const user: DatabaseUserRow | undefined = await db('database_users')
        .where({ owner_id: database.owner_id, name: request.body.user })
        .first();
      if (!user) throw notFound('database user');
      if (user.server_id !== database.server_id)
        throw conflict(`database user ${user.name} is on another server than database ${database.name}`);
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        await trx('database_grants')
          .insert({ database_id: database.id, user_id: user.id, access: request.body.access })
          .onConflict(['database_id', 'user_id'])
          .merge({ access: request.body.access });
        return [await databaseApplyJob(trx, database)];
      });
      return databaseChange(reply, database, jobs, request.caller);
    },
  );

  app.delete(
    '/v1/databases/:database/users/:user',
    {
      config: ownedDatabases('database'),
      schema: {
        operationId: 'revokeDatabase',
        tags: ['databases'],
        summary: 'Take a user’s access to this database away (the user stays).',
        params: Type.Object({ database: DatabaseParams.properties.database, user: UserParams.properties.user }),
        response: { 202: Type.Ref('DatabaseChange'), ...errorResponses(401, 404, 409) },
      },
    },
    async (request, reply) => {
      const database = await owned<DatabaseRow>('databases', 'database', request.caller, request.params.database);
      const user: DatabaseUserRow | undefined = await db('database_users')
        .where({ owner_id: database.owner_id, name: request.params.user })
        .first();
      if (!user) throw notFound('database user');
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        const removed = await trx('database_grants').where({ database_id: database.id, user_id: user.id }).delete();
        if (!removed) throw notFound('grant');
        return [await databaseApplyJob(trx, database)];
      });
      return databaseChange(reply, database, jobs, request.caller);
    },
  );

  // ---------------------------------------------------------------- dumps and imports

  const accepted = (reply: { code(n: number): any }, job: JobRow, caller: Caller) =>
    reply.code(202).header('location', `/v1/jobs/${job.id}`).send(jobView(job, caller));
  const collect = (log: { warn(o: unknown, m: string): void }) =>
    collectDatabaseFiles().catch((error) => log.warn({ err: error }, 'collecting database dumps and uploads failed'));

  app.post(
    '/v1/databases/:database/dump',
    {
      config: ownedDatabases('database'),
      schema: {
        operationId: 'dumpDatabase',
        tags: ['databases'],
        summary:
          'Dump a database (pg_dump / mariadb-dump, gzip): a job whose result names the file (sha256); download it from /v1/databases/{database}/dumps/{sha256} within 24 hours.',
        params: DatabaseParams,
        querystring: OwnerQuery,
        response: { 202: Type.Ref('Job'), ...errorResponses(401, 404, 409) },
      },
    },
    async (request, reply) => {
      const database = await owned<DatabaseRow>('databases', 'database', request.caller, request.params.database, request.query.owner);
      const [job] = await outbox.submitPlans(requesterOf(request.caller), async (trx) => [await databaseDumpJob(trx, database)]);
      collect(request.log);
      return accepted(reply, job, request.caller);
    },
  );

  app.get(
    '/v1/databases/:database/dumps/:sha256',
    {
      // Scoped by the handler (owned(): another user's database is a 404, as for the routes
      // declared owned), not by declaration: the dump is a second key under the database, which
      // a route's `owned` declaration has no room for.
      config: { access: 'caller' as const },
      schema: {
        operationId: 'downloadDatabaseDump',
        tags: ['databases'],
        summary: "A dump of the database that a database.dump job made (its result's sha256): gzip-compressed SQL, kept 24 hours.",
        params: Type.Object({ database: DatabaseParams.properties.database, sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }) }),
        querystring: OwnerQuery,
        response: {
          200: {
            description: 'the dump, gzip-compressed SQL',
            content: {
              'application/gzip': {
                schema: Type.String({ contentMediaType: 'application/gzip', examples: ['(gzip-compressed SQL)'] }),
              },
            },
          },
          ...errorResponses(400, 401, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const database = await owned<DatabaseRow>('databases', 'database', request.caller, request.params.database, request.query.owner);
      const file = await dumpFile(db, database, request.params.sha256);
      if (!file) throw notFound('dump (dumps are kept 24 hours)');
      return (
        reply
          .type('application/gzip')
          .header('content-length', file.bytes)
          .header('content-disposition', `attachment; filename="${database.full_name}-${request.params.sha256.slice(0, 12)}.sql.gz"`)
          // A stream: fastify pipes it as it is (the schema's string type documents the bytes).
          .send(readDump(file.path) as unknown as string)
      );
    },
  );

  app.post(
    '/v1/databases/:database/import',
    {
      config: ownedDatabases('database'),
      schema: {
        operationId: 'importDatabase',
        tags: ['databases'],
        summary:
          'Run an SQL file in the database (plain or gzip-compressed), as a login limited to this database (never a superuser): a job that fails with the first error lines.',
        description:
          "At most the owner's plan databaseMb (4 GiB whatever the plan) per upload (413 beyond). PostgreSQL runs it in one transaction with psql's backslash commands refused; MariaDB sandboxed, statement by statement.",
        params: DatabaseParams,
        querystring: OwnerQuery,
        body: SqlUpload,
        response: { 202: Type.Ref('Job'), ...errorResponses(400, 401, 404, 408, 409, 413, 415) },
      },
    },
    async (request, reply) => {
      const database = await owned<DatabaseRow>('databases', 'database', request.caller, request.params.database, request.query.owner);
      const upload = await receiveImport(request.body, await importLimit(db, database));
      const [job] = await outbox.submitPlans(requesterOf(request.caller), async (trx) => [await databaseImportJob(trx, database, upload)]);
      collect(request.log);
      return accepted(reply, job, request.caller);
    },
  );

  // ---------------------------------------------------------------- database users

  const userChange = async (
    reply: { code(n: number): { send(b: unknown): unknown } },
    row: DatabaseUserRow,
    jobs: JobRow[],
    caller: Caller,
    password?: string,
  ) => reply.code(202).send({ user: await showUser(row), ...(password ? { password } : {}), jobs: jobsOf(jobs, caller) });

  app.post(
    '/v1/database-users',
    {
      config: ownedUsers(),
      schema: {
        operationId: 'createDatabaseUser',
        tags: ['databases'],
        summary: 'Create a database user (<you>_<name>), with your password or a generated one shown once; TLS is required to log in.',
        body: refTo(DatabaseUserCreate),
        response: { 202: Type.Ref('DatabaseUserChange'), ...errorResponses(400, 401, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const server = await chooseServer(request.body);
      const tenant = await tenantName(request.caller.userId);
      const full = fullName(tenant, request.body.name);
      checkLength(full, server.engine, 'user');
      const allowFrom = allowFromOf(request.body.allowFrom ?? [], server.engine);
      const generated = request.body.password === undefined ? generatePassword() : undefined;
      const verifier = verifierFor(server.engine, request.body.password ?? generated!);
      const id = randomUUID();
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        await enforceLimit(trx, request.caller, 'databaseUsers', trx('database_users').where({ owner_id: request.caller.userId }));
        if (await trx('database_users').where({ owner_id: request.caller.userId, name: request.body.name }).first('id'))
          throw conflict(`you already have a database user named ${request.body.name}`);
        await nameFree(trx, server.id, full);
        await trx('database_users').insert({
          id,
          name: request.body.name,
          full_name: full,
          owner_id: request.caller.userId,
          server_id: server.id,
          verifier,
          allow_from: allowFrom,
        });
        return [await userApplyJob(trx, await trx('database_users').where({ id }).first())];
      });
      return userChange(reply, await db('database_users').where({ id }).first(), jobs, request.caller, generated);
    },
  );

  app.get(
    '/v1/database-users',
    {
      config: ownedUsers(),
      schema: {
        operationId: 'listDatabaseUsers',
        tags: ['databases'],
        summary: 'Your database users by name (admins: all).',
        querystring: Type.Object(pageQuery({ default: 100, maximum: 500 }), { additionalProperties: false }),
        response: { 200: Page(DatabaseUserView), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { limit, after } = request.query;
      const rows: DatabaseUserRow[] = await scopeToCaller(
        keyset(db('database_users'), { columns: ['name', 'id'] }, { limit, after }),
        request.caller,
      );
      return mapPage(
        pageOf(rows, limit, (r) => [r.name, r.id]),
        showUser,
      );
    },
  );

  app.get(
    '/v1/database-users/:user',
    {
      config: ownedUsers('user'),
      schema: {
        operationId: 'getDatabaseUser',
        tags: ['databases'],
        summary: 'One database user and the databases it may use.',
        params: UserParams,
        querystring: OwnerQuery,
        response: { 200: Type.Ref('DatabaseUser'), ...errorResponses(401, 404, 409) },
      },
    },
    async (request) => showUser(await owned('database_users', 'database user', request.caller, request.params.user, request.query.owner)),
  );

  app.delete(
    '/v1/database-users/:user',
    {
      config: ownedUsers('user'),
      schema: {
        operationId: 'deleteDatabaseUser',
        tags: ['databases'],
        summary: 'Delete a database user: its grants go, its sessions are closed.',
        params: UserParams,
        querystring: OwnerQuery,
        response: { 202: Type.Ref('DatabaseUserChange'), ...errorResponses(401, 404, 409) },
      },
    },
    async (request, reply) => {
      const row = await owned<DatabaseUserRow>('database_users', 'database user', request.caller, request.params.user, request.query.owner);
      const shown = await showUser(row);
      const jobs = await outbox.submitPlans(requesterOf(request.caller), (trx) => userRemoval(trx, row));
      return reply.code(202).send({ user: shown, jobs: jobsOf(jobs, request.caller) });
    },
  );

  app.patch(
    '/v1/database-users/:user',
    {
      config: ownedUsers('user'),
      schema: {
        operationId: 'editDatabaseUser',
        tags: ['databases'],
        summary: 'Set the client networks a database user may connect from (an empty list: anywhere); the server enforces them.',
        params: UserParams,
        body: refTo(DatabaseUserEdit),
        response: { 202: Type.Ref('DatabaseUserChange'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const row = await owned<DatabaseUserRow>('database_users', 'database user', request.caller, request.params.user);
      const server: DbServerRow = await db('db_servers').where({ id: row.server_id }).first();
      const allowFrom = allowFromOf(request.body.allowFrom, server.engine);
      let updated = row;
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        [updated] = await trx('database_users')
          .where({ id: row.id })
          .update({ allow_from: allowFrom, updated_at: trx.fn.now() })
          .returning('*');
        return [await userApplyJob(trx, updated)];
      });
      return userChange(reply, updated, jobs, request.caller);
    },
  );

  app.post(
    '/v1/database-users/:user/password',
    {
      config: ownedUsers('user'),
      schema: {
        operationId: 'setDatabaseUserPassword',
        tags: ['databases'],
        summary: "Set a database user's password (yours, or a generated one shown once); the old one stops working.",
        params: UserParams,
        body: refTo(DatabasePassword),
        response: { 202: Type.Ref('DatabaseUserChange'), ...errorResponses(400, 401, 404, 409) },
      },
    },
    async (request, reply) => {
      const row = await owned<DatabaseUserRow>('database_users', 'database user', request.caller, request.params.user);
      const server: DbServerRow = await db('db_servers').where({ id: row.server_id }).first();
      const generated = request.body.password === undefined ? generatePassword() : undefined;
      const verifier = verifierFor(server.engine, request.body.password ?? generated!);
      let updated = row;
      const jobs = await outbox.submitPlans(requesterOf(request.caller), async (trx) => {
        [updated] = await trx('database_users').where({ id: row.id }).update({ verifier, updated_at: trx.fn.now() }).returning('*');
        return [await userApplyJob(trx, updated)];
      });
      return userChange(reply, updated, jobs, request.caller, generated);
    },
  );
};
