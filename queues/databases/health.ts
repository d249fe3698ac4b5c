import { ALLOW_FROM_MAX, NETWORK_PATTERN } from './addresses.ts';
import { Type } from 'typebox';
import { CheckedResource, defineCheck } from '../health/checks.ts';
import { defineOperation } from '../operation.ts';
import { DB_IDENTIFIER, DbServerRef, Grant, VERIFIER_PATTERNS, databaseApply, dbServerSetup } from './ops.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { hostName } from '../tenant-view.ts';

const Name = Type.String({ pattern: DB_IDENTIFIER, maxLength: 80 });

export const healthCheckDatabase = defineCheck({
  name: 'health.check.database',
  summary: 'Does the database exist on its server, with its owner and exactly its stored grants (users present), and how big is it?',
  payload: Type.Object(
    {
      resource: CheckedResource,
      server: DbServerRef,
      database: Type.Object({ id: Type.String({ pattern: UUID_PATTERN }), name: Name }, { additionalProperties: false }),
      grants: Type.Array(Grant, { maxItems: 200 }),
      size: Type.Object(
        {
          limitBytes: Type.Integer({ minimum: 0, description: "the owner's plan: all their databases together" }),
          othersBytes: Type.Integer({ minimum: 0, description: "the owner's other databases, as last measured" }),
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false, $id: 'HealthCheckDatabasePayload' },
  ),
  tenantView: ({ resource, server, database, grants }) => ({
    resource,
    server: { name: server.name, engine: server.engine, host: hostName(server.host) },
    database,
    grants,
  }),
});

/** database.apply, after the grantees are back from their stored verifiers (a role or user that went missing). */
export const healthRepairDatabase = defineOperation({
  name: 'health.repair.database',
  summary: "Re-create the database's missing users from their stored verifiers, then re-apply the database and its grants.",
  payload: Type.Object(
    {
      ...databaseApply.payload.properties,
      users: Type.Array(
        Type.Object(
          {
            name: Name,
            verifier: Type.String({ pattern: `(${VERIFIER_PATTERNS.postgresql})|(${VERIFIER_PATTERNS.mariadb})`, maxLength: 200 }),
            allowFrom: Type.Optional(Type.Array(Type.String({ pattern: NETWORK_PATTERN, maxLength: 50 }), { maxItems: ALLOW_FROM_MAX })),
          },
          { additionalProperties: false },
        ),
        { maxItems: 200 },
      ),
    },
    { additionalProperties: false, $id: 'HealthRepairDatabasePayload' },
  ),
  result: Type.Object(
    { database: Type.String(), recreated: Type.Array(Type.String()) },
    { additionalProperties: false, $id: 'HealthRepairDatabaseResult' },
  ),
  retry: { maxAttempts: 2, tiersMs: [2_000] },
  timeoutMs: 120_000,
  tenantView: ({ server, database, grants }) => ({
    server: { name: server.name, engine: server.engine, host: hostName(server.host) },
    database,
    grants,
  }),
});

/** More sessions than this share of max_connections, or less free disk than this share of the data directory's, is a problem. */
export const DB_SERVER_LIMITS = { connectionsMaxPercent: 90, diskMinFreePercent: 10 };

export const healthCheckDbServer = defineCheck({
  name: 'health.check.db-server',
  summary:
    'Does the database server answer on its socket and with TLS on its address, serving the certificate up installed; are its sessions under max_connections and its data directory not full?',
  payload: Type.Object(
    {
      resource: CheckedResource,
      server: DbServerRef,
      listen: dbServerSetup.payload.properties.listen,
      tls: dbServerSetup.payload.properties.tls,
      limits: Type.Object(
        {
          connectionsMaxPercent: Type.Integer({ minimum: 1, maximum: 100 }),
          diskMinFreePercent: Type.Integer({ minimum: 0, maximum: 99 }),
        },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false, $id: 'HealthCheckDbServerPayload' },
  ),
});

/** database.server.setup, then a reload, so that a certificate replaced on disk is the one served. */
export const healthRepairDbServer = defineOperation({
  name: 'health.repair.db-server',
  summary: 'Set the database server up again (configuration, TLS, control account, started), then make it load the installed certificate.',
  payload: Type.Object(dbServerSetup.payload.properties, { additionalProperties: false, $id: 'HealthRepairDbServerPayload' }),
  result: Type.Object(dbServerSetup.result.properties, { additionalProperties: false, $id: 'HealthRepairDbServerResult' }),
  retry: { maxAttempts: 2, tiersMs: [2_000] },
  timeoutMs: 180_000,
});
