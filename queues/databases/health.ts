import { ALLOW_FROM_MAX, NETWORK_PATTERN } from './addresses.ts';
import { Type } from 'typebox';
import { CheckedResource, defineCheck } from '../health/checks.ts';
import { defineOperation } from '../operation.ts';
import { DB_IDENTIFIER, DbServerRef, Grant, VERIFIER_PATTERNS, databaseApply } from './ops.ts';
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
