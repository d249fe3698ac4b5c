/** The API shapes of the databases domain: what is sent, what is shown (never a verifier). */
import { Type, type TSchema } from 'typebox';
import { ALLOW_FROM_MAX } from '../../queues/databases/addresses.ts';
import { ACCESS, DB_ENGINES } from '../../queues/databases/ops.ts';
import { exampleOf, JOB_EXAMPLE, refTo } from '../schemas.ts';
import type { DatabaseRow, DatabaseUserRow, DbServerRow } from './store.ts';

/** What a tenant names a database or a user: `<tenant>_` is put in front on the server. */
export const SHORT_NAME = '^[a-z][a-z0-9_]{0,31}$';
export const SERVER_NAME = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';
const Engine = Type.Enum([...DB_ENGINES], { description: DB_ENGINES.join(' | ') });
const Access = Type.Enum([...ACCESS], { description: 'rw: read, write and change the schema; ro: read only' });
/** Printable ASCII: SCRAM's SASLprep and every client agree on these bytes; no NUL, no newline. */
export const Password = Type.String({
  minLength: 12,
  maxLength: 128,
  pattern: '^[\\x20-\\x7e]+$',
  description: '12 to 128 printable ASCII characters; omitted: one is generated and shown once',
});
/** Checked as values (lib/validate/address.ts) by the routes; the schema only bounds the text. */
const AllowFrom = Type.Array(Type.String({ minLength: 2, maxLength: 50 }), {
  maxItems: ALLOW_FROM_MAX,
  description:
    'client networks (CIDR, or an address) the user may connect from; empty: anywhere. MariaDB: IPv4 networks and single IPv6 addresses',
});

const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : null);
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const DbServerCreate = Type.Object(
  {
    name: Type.String({ pattern: SERVER_NAME }),
    host: Type.String({ pattern: SERVER_NAME, description: 'a registered host with the role db-postgresql or db-mariadb' }),
    engine: Engine,
    address: Type.String({
      pattern: '^[0-9a-fA-F.:]{2,45}$',
      description: "the host's address tenants connect to; the server listens on it",
    }),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'default 5432 / 3306' })),
    cluster: Type.Optional(
      Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,31}$', description: 'PostgreSQL: the Debian cluster (default main)' }),
    ),
    default: Type.Optional(Type.Boolean({ description: "the engine's default server for tenants who name none" })),
  },
  {
    additionalProperties: false,
    $id: 'DbServerCreate',
    examples: [{ name: 'pg1', host: 'db1', engine: 'postgresql', address: '192.0.2.30', default: true }],
  },
);

export const DbServerView = Type.Object(
  {
    name: Type.String(),
    engine: Engine,
    host: Type.String(),
    address: Type.String(),
    port: Type.Integer(),
    cluster: Type.String(),
    default: Type.Boolean(),
    databases: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
  },
  {
    $id: 'DbServer',
    examples: [
      {
        name: 'pg1',
        engine: 'postgresql',
        host: 'db1',
        address: '192.0.2.30',
        port: 5432,
        cluster: 'main',
        default: true,
        databases: 12,
        createdAt: '2026-12-01T09:00:00.000Z',
      },
    ],
  },
);

export const DatabaseGrant = Type.Object(
  { user: Type.String({ pattern: SHORT_NAME, description: 'one of your database users, on the same server' }), access: Access },
  { additionalProperties: false, $id: 'DatabaseGrant', examples: [{ user: 'app', access: 'rw' }] },
);

export const DatabaseCreate = Type.Object(
  {
    name: Type.String({ pattern: SHORT_NAME, description: 'on the server: <you>_<name>' }),
    engine: Type.Optional(Engine),
    server: Type.Optional(Type.String({ pattern: SERVER_NAME, description: "default: the engine's default server" })),
    users: Type.Optional(
      Type.Array(refTo(DatabaseGrant), {
        maxItems: 20,
        description: 'users of yours on the same server granted from the start, in the same job (as PUT …/users would)',
      }),
    ),
  },
  {
    additionalProperties: false,
    $id: 'DatabaseCreate',
    examples: [
      { name: 'shop', engine: 'postgresql' },
      { name: 'shop', engine: 'postgresql', users: [{ user: 'app', access: 'rw' }] },
    ],
  },
);

export const DatabaseView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    fullName: Type.String({ description: 'its name on the server' }),
    owner: Type.String(),
    server: Type.String(),
    engine: Engine,
    address: Type.String(),
    port: Type.Integer(),
    users: Type.Array(Type.Object({ name: Type.String(), fullName: Type.String(), access: Access })),
    sizeBytes: Nullable(Type.Integer()),
    sizeAt: Nullable(Type.String({ format: 'date-time' })),
    error: Nullable(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
  },
  {
    $id: 'Database',
    examples: [
      {
        id: '0193a5c6-7e8f-7091-a213-c4d5e6f70819',
        name: 'shop',
        fullName: 'alice_shop',
        owner: 'alice',
        server: 'pg1',
        engine: 'postgresql',
        address: '192.0.2.30',
        port: 5432,
        users: [{ name: 'app', fullName: 'alice_app', access: 'rw' }],
        sizeBytes: 7_602_176,
        sizeAt: '2026-12-05T10:00:00.000Z',
        error: null,
        createdAt: '2026-12-01T09:00:00.000Z',
      },
    ],
  },
);

export const DatabaseUserCreate = Type.Object(
  {
    name: Type.String({ pattern: SHORT_NAME, description: 'on the server: <you>_<name>' }),
    engine: Type.Optional(Engine),
    server: Type.Optional(Type.String({ pattern: SERVER_NAME })),
    password: Type.Optional(Password),
    allowFrom: Type.Optional(AllowFrom),
  },
  {
    additionalProperties: false,
    $id: 'DatabaseUserCreate',
    examples: [{ name: 'app', engine: 'postgresql', allowFrom: ['192.0.2.0/24'] }],
  },
);

export const DatabaseUserView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    fullName: Type.String({ description: 'its name on the server: what clients log in as' }),
    owner: Type.String(),
    server: Type.String(),
    engine: Engine,
    databases: Type.Array(Type.Object({ name: Type.String(), fullName: Type.String(), access: Access })),
    allowFrom: Type.Array(Type.String(), { description: 'client networks it may connect from; empty: anywhere' }),
    error: Nullable(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  {
    $id: 'DatabaseUser',
    examples: [
      {
        id: '0193a5c6-7e8f-7091-a213-c4d5e6f7081a',
        name: 'app',
        fullName: 'alice_app',
        owner: 'alice',
        server: 'pg1',
        engine: 'postgresql',
        databases: [{ name: 'shop', fullName: 'alice_shop', access: 'rw' }],
        allowFrom: ['192.0.2.0/24'],
        error: null,
        createdAt: '2026-12-01T09:00:00.000Z',
        updatedAt: '2026-12-01T09:00:00.000Z',
      },
    ],
  },
);

export const DatabasePassword = Type.Object(
  { password: Type.Optional(Password) },
  { additionalProperties: false, $id: 'DatabasePassword', examples: [{}] },
);

export const DatabaseUserEdit = Type.Object(
  { allowFrom: AllowFrom },
  { additionalProperties: false, $id: 'DatabaseUserEdit', examples: [{ allowFrom: ['192.0.2.0/24', '2001:db8::7/128'] }] },
);

export const DbServerChange = Type.Object(
  { server: Type.Ref('DbServer'), jobs: Type.Array(Type.Ref('Job')) },
  { $id: 'DbServerChange', examples: [{ server: exampleOf(DbServerView), jobs: [JOB_EXAMPLE] }] },
);
export const DatabaseChange = Type.Object(
  { database: Type.Ref('Database'), jobs: Type.Array(Type.Ref('Job')) },
  { $id: 'DatabaseChange', examples: [{ database: exampleOf(DatabaseView), jobs: [JOB_EXAMPLE] }] },
);
export const DatabaseUserChange = Type.Object(
  {
    user: Type.Ref('DatabaseUser'),
    password: Type.Optional(Type.String({ description: 'the generated password: shown this once, stored nowhere' })),
    jobs: Type.Array(Type.Ref('Job')),
  },
  {
    $id: 'DatabaseUserChange',
    examples: [{ user: exampleOf(DatabaseUserView), password: 'k7Qm2xVbT9pRw4ZnH8sLd3Fa', jobs: [JOB_EXAMPLE] }],
  },
);

export const databaseSchemas: TSchema[] = [
  DbServerCreate,
  DbServerView,
  DbServerChange,
  DatabaseCreate,
  DatabaseView,
  DatabaseChange,
  DatabaseUserCreate,
  DatabaseUserView,
  DatabaseUserChange,
  DatabasePassword,
  DatabaseUserEdit,
  DatabaseGrant,
];

export function dbServerView(server: DbServerRow, databases: number) {
  return {
    name: server.name,
    engine: server.engine,
    host: server.host,
    address: server.address,
    port: server.port,
    cluster: server.cluster,
    default: server.is_default,
    databases,
    createdAt: iso(server.created_at)!,
  };
}

export function databaseView(
  row: DatabaseRow,
  ctx: { owner: string; server: DbServerRow; users: { name: string; full_name: string; access: 'rw' | 'ro' }[] },
) {
  return {
    id: row.id,
    name: row.name,
    fullName: row.full_name,
    owner: ctx.owner,
    server: ctx.server.name,
    engine: ctx.server.engine,
    address: ctx.server.address,
    port: ctx.server.port,
    users: ctx.users.map((u) => ({ name: u.name, fullName: u.full_name, access: u.access })),
    sizeBytes: row.size_bytes ?? null,
    sizeAt: iso(row.size_at ?? null),
    error: row.last_error,
    createdAt: iso(row.created_at)!,
  };
}

export function databaseUserView(
  row: DatabaseUserRow,
  ctx: { owner: string; server: DbServerRow; databases: { name: string; full_name: string; access: 'rw' | 'ro' }[] },
) {
  return {
    id: row.id,
    name: row.name,
    fullName: row.full_name,
    owner: ctx.owner,
    server: ctx.server.name,
    engine: ctx.server.engine,
    databases: ctx.databases.map((d) => ({ name: d.name, fullName: d.full_name, access: d.access })),
    allowFrom: row.allow_from ?? [],
    error: row.last_error,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}
