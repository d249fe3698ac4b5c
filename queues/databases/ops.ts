/**
 * Tenant databases and database users on PostgreSQL and MariaDB servers. Messages carry names
 * that passed strict patterns (SQL identifiers made of [a-z0-9_] only) and password verifiers,
 * never a plain password; handlers quote every identifier again (psql variables and format('%I')
 * for PostgreSQL, a whitelist plus backticks for MariaDB).
 */
import { Type, type Static } from 'typebox';
import { HostRef } from '../host-ref.ts';
import { defineOperation } from '../operation.ts';
import { hostName } from '../tenant-view.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { ALLOW_FROM_MAX, NETWORK_PATTERN } from './addresses.ts';

export const DB_ENGINES = ['postgresql', 'mariadb'] as const;
export type DbEngine = (typeof DB_ENGINES)[number];
export const DbEngineSchema = Type.Enum([...DB_ENGINES], { description: DB_ENGINES.join(' | ') });

/** A full (server-side) name: `<tenant>_<name>`, lower case letters, digits and underscores. */
export const DB_IDENTIFIER = '^[a-z][a-z0-9_]{0,79}$';
/**
 * The longest names each engine keeps whole: PostgreSQL truncates identifiers at 63 bytes
 * (and up adds `-owner` for a database's owner role); MariaDB has 64 for schemas, 80 for users.
 */
export const NAME_LIMITS: Record<DbEngine, { database: number; user: number }> = {
  postgresql: { database: 57, user: 63 },
  mariadb: { database: 64, user: 80 },
};

/** PostgreSQL: a SCRAM-SHA-256 verifier (RFC 5803 form); MariaDB: a mysql_native_password hash. */
export const VERIFIER_PATTERNS: Record<DbEngine, string> = {
  postgresql: '^SCRAM-SHA-256\\$4096:[A-Za-z0-9+/]{22}==\\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$',
  mariadb: '^\\*[0-9A-F]{40}$',
};
const VERIFIER = `(${VERIFIER_PATTERNS.postgresql})|(${VERIFIER_PATTERNS.mariadb})`;

const Path = Type.String({ pattern: '^/[A-Za-z0-9._/-]{1,255}$', description: 'an absolute path without ..' });

/** Where a database server is and how up reaches it: over SSH, then the local socket. */
export const DbServerRef = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' }),
    engine: DbEngineSchema,
    host: HostRef,
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    /** PostgreSQL: the Debian cluster (`pg_lsclusters`); MariaDB: unused. */
    cluster: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,31}$' }),
  },
  { additionalProperties: false },
);
export type DbServerRef = Static<typeof DbServerRef>;

const Name = Type.String({ pattern: DB_IDENTIFIER, maxLength: 80 });
const DatabaseIdentity = Type.Object({ id: Type.String({ pattern: UUID_PATTERN }), name: Name }, { additionalProperties: false });
export const ACCESS = ['rw', 'ro'] as const;
export const AccessSchema = Type.Enum([...ACCESS], { description: 'rw: read, write and change the schema; ro: read only' });
export const Grant = Type.Object({ user: Name, access: AccessSchema }, { additionalProperties: false });
export type Grant = Static<typeof Grant>;

const serverView = (server: DbServerRef) => ({ name: server.name, engine: server.engine, host: hostName(server.host) });
const DB_RETRY = { maxAttempts: 5, tiersMs: [1_000, 3_000, 10_000] };

export const dbServerSetup = defineOperation({
  name: 'database.server.setup',
  summary:
    "Set a database server up on its host: listen where the admin said, TLS required off the host with the host's service certificate, up's control role over the local socket; start or reload it.",
  payload: Type.Object(
    {
      server: DbServerRef,
      listen: Type.String({
        pattern: '^[0-9a-fA-F.:]{2,45}$',
        description: 'the address on the host it listens on (besides the local socket)',
      }),
      tls: Type.Object({ cert: Path, key: Path }, { additionalProperties: false }),
    },
    { additionalProperties: false, $id: 'DbServerSetupPayload' },
  ),
  result: Type.Object(
    { server: Type.String(), version: Type.String(), changed: Type.Array(Type.String()) },
    { additionalProperties: false, $id: 'DbServerSetupResult' },
  ),
  retry: { maxAttempts: 3, tiersMs: [2_000, 10_000] },
  timeoutMs: 180_000,
  concurrency: 4,
});

export const databaseApply = defineOperation({
  name: 'database.apply',
  summary:
    'Converge one database on its server: it exists, nobody but its grantees may connect, and exactly these users have exactly this access.',
  payload: Type.Object(
    { server: DbServerRef, database: DatabaseIdentity, grants: Type.Array(Grant, { maxItems: 200 }) },
    { additionalProperties: false, $id: 'DatabaseApplyPayload' },
  ),
  result: Type.Object(
    { database: Type.String(), created: Type.Boolean(), grants: Type.Integer() },
    { additionalProperties: false, $id: 'DatabaseApplyResult' },
  ),
  retry: DB_RETRY,
  timeoutMs: 120_000,
  concurrency: 8,
  tenantView: ({ server, database, grants }) => ({ server: serverView(server), database, grants }),
});

export const databaseDelete = defineOperation({
  name: 'database.delete',
  summary: 'Drop one database (closing its sessions) and its owner role.',
  payload: Type.Object({ server: DbServerRef, database: DatabaseIdentity }, { additionalProperties: false, $id: 'DatabaseDeletePayload' }),
  result: Type.Object({ database: Type.String(), dropped: Type.Boolean() }, { additionalProperties: false, $id: 'DatabaseDeleteResult' }),
  retry: DB_RETRY,
  timeoutMs: 120_000,
  concurrency: 8,
  tenantView: ({ server, database }) => ({ server: serverView(server), database }),
});

export const databaseUserApply = defineOperation({
  name: 'database.user.apply',
  summary:
    'Create a database user, or set its password and the client networks it may connect from, from a verifier (never the password); TLS required.',
  payload: Type.Object(
    {
      server: DbServerRef,
      user: Type.Object(
        {
          id: Type.String({ pattern: UUID_PATTERN }),
          name: Name,
          verifier: Type.String({ pattern: VERIFIER, maxLength: 200 }),
          allowFrom: Type.Optional(
            Type.Array(Type.String({ pattern: NETWORK_PATTERN, maxLength: 50 }), {
              maxItems: ALLOW_FROM_MAX,
              description: 'client networks (canonical CIDRs) it may connect from; empty or absent: anywhere',
            }),
          ),
        },
        { additionalProperties: false },
      ),
      /** MariaDB: the user's grants, given to each of its accounts (one per network). */
      databases: Type.Optional(
        Type.Array(Type.Object({ name: Name, access: AccessSchema }, { additionalProperties: false }), { maxItems: 1000 }),
      ),
    },
    { additionalProperties: false, $id: 'DatabaseUserApplyPayload' },
  ),
  result: Type.Object({ user: Type.String(), created: Type.Boolean() }, { additionalProperties: false, $id: 'DatabaseUserApplyResult' }),
  retry: DB_RETRY,
  timeoutMs: 60_000,
  concurrency: 8,
  // The verifier is not shown, even to its owner: it is what an offline guess would start from.
  tenantView: ({ server, user }) => ({
    server: serverView(server),
    user: { id: user.id, name: user.name, allowFrom: user.allowFrom ?? [] },
  }),
});

export const databaseUserDelete = defineOperation({
  name: 'database.user.delete',
  summary: 'Drop a database user: its privileges in the listed databases go first, its sessions are closed.',
  payload: Type.Object(
    {
      server: DbServerRef,
      user: Type.Object({ id: Type.String({ pattern: UUID_PATTERN }), name: Name }, { additionalProperties: false }),
      databases: Type.Array(Name, {
        maxItems: 1000,
        description: 'where the user may hold privileges (its owner’s databases on the server)',
      }),
    },
    { additionalProperties: false, $id: 'DatabaseUserDeletePayload' },
  ),
  result: Type.Object({ user: Type.String(), dropped: Type.Boolean() }, { additionalProperties: false, $id: 'DatabaseUserDeleteResult' }),
  retry: DB_RETRY,
  timeoutMs: 120_000,
  concurrency: 8,
  tenantView: ({ server, user }) => ({ server: serverView(server), user }),
});

const SHA256 = Type.String({ pattern: '^[0-9a-f]{64}$' });

export const databaseDump = defineOperation({
  name: 'database.dump',
  summary:
    "Dump one database on its host (pg_dump / mariadb-dump as up's control account, gzip on the host) into the content store as <sha256>.sql.gz.",
  payload: Type.Object({ server: DbServerRef, database: DatabaseIdentity }, { additionalProperties: false, $id: 'DatabaseDumpPayload' }),
  result: Type.Object(
    { database: Type.String(), sha256: SHA256, bytes: Type.Integer({ minimum: 0 }) },
    { additionalProperties: false, $id: 'DatabaseDumpResult' },
  ),
  retry: { maxAttempts: 3, tiersMs: [2_000, 10_000] },
  timeoutMs: 900_000,
  concurrency: 2,
  tenantView: ({ server, database }) => ({ server: serverView(server), database }),
});

export const databaseImport = defineOperation({
  name: 'database.import',
  summary:
    "Feed an uploaded SQL file (from the content store) to psql / mariadb connected as a temporary account that may use this database only, never as a superuser; psql's backslash commands are refused, mariadb runs sandboxed.",
  payload: Type.Object(
    {
      server: DbServerRef,
      database: DatabaseIdentity,
      file: Type.Object(
        { sha256: SHA256, bytes: Type.Integer({ minimum: 0 }), gzip: Type.Boolean() },
        { additionalProperties: false, description: 'the upload in the content store' },
      ),
    },
    { additionalProperties: false, $id: 'DatabaseImportPayload' },
  ),
  result: Type.Object(
    { database: Type.String(), bytes: Type.Integer({ minimum: 0, description: 'SQL bytes applied' }) },
    { additionalProperties: false, $id: 'DatabaseImportResult' },
  ),
  // An import is not idempotent (its INSERTs would run twice): it is never retried by itself.
  retry: { maxAttempts: 1, tiersMs: [10_000] },
  timeoutMs: 900_000,
  concurrency: 2,
  tenantView: ({ server, database, file }) => ({ server: serverView(server), database, file }),
});
