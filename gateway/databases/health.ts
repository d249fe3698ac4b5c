/**
 * Every database is checked on its server each round: it exists, its grants are the stored
 * ones, its users are there; its size is measured (shown with the database, counted against
 * the owner's plan). Drift is repaired by health.repair.database (users re-created from their
 * stored verifiers, then database.apply); a failed repair leaves the resource failed, with its
 * one alarm per cause.
 */
import type { Knex } from 'knex';
import { healthCheckDatabase, healthRepairDatabase } from '../../queues/databases/health.ts';
import type { CheckResult } from '../../queues/health/checks.ts';
import type { databaseApply } from '../../queues/databases/ops.ts';
import type { PayloadOf } from '../../queues/operation.ts';
import type { CheckKind } from '../domain.ts';
import { FAIL_AFTER, hasCause, ON_HOST, REPAIR_AFTER } from '../health/policy.ts';
import { plan, type JobPlan } from '../plan.ts';
import { effectiveLimits, type UserRow } from '../users/store.ts';
import { databaseApplyJob } from './plans.ts';
import type { DatabaseRow, DbServerRow } from './store.ts';
import { grantsByDatabase, serverRefOf } from './store.ts';

export const DATABASE_RESOURCE = 'database';
export const databaseKey = (database: Pick<DatabaseRow, 'full_name'>, server: Pick<DbServerRow, 'name'>) =>
  `${database.full_name}@${server.name}`;
const MIB = 1024 * 1024;

/** Each owner's databases' last measured sizes, by database key. */
export async function measuredSizes(db: Knex, ownerIds?: string[]): Promise<Map<string, { bytes: number; at: Date }>> {
  const query = db('health').where({ resource_type: DATABASE_RESOURCE }).whereNotNull('measurements');
  if (ownerIds) query.whereIn('owner_id', ownerIds);
  const rows: { resource_key: string; measurements: { sizeBytes?: number }; checked_at: Date }[] = await query.select(
    'resource_key',
    'measurements',
    'checked_at',
  );
  return new Map(
    rows
      .filter((r) => typeof r.measurements?.sizeBytes === 'number')
      .map((r) => [r.resource_key, { bytes: r.measurements.sizeBytes!, at: r.checked_at }]),
  );
}

/** What the owner's databases hold together (last measurements), in MiB: what the `databaseMb` limit counts. */
export async function usedDatabaseMb(db: Knex, ownerId: string): Promise<number> {
  // Summed by PostgreSQL: a tenant with a thousand databases asks for one more without a thousand rows read.
  const row: { bytes: string | number | null } | undefined = await db('health')
    .where({ resource_type: DATABASE_RESOURCE, owner_id: ownerId })
    .first(
      db.raw(
        "COALESCE(SUM(CASE WHEN jsonb_typeof(measurements->'sizeBytes') = 'number' THEN (measurements->>'sizeBytes')::numeric END), 0) AS bytes",
      ),
    );
  return Number(row?.bytes ?? 0) / MIB;
}

async function targetOf(db: Knex, key: string): Promise<{ database: DatabaseRow; server: DbServerRow } | null> {
  const at = key.lastIndexOf('@');
  if (at < 0) return null;
  const server: DbServerRow | undefined = await db('db_servers')
    .where({ name: key.slice(at + 1) })
    .first();
  const database: DatabaseRow | undefined =
    server &&
    (await db('databases')
      .where({ server_id: server.id, full_name: key.slice(0, at) })
      .first());
  return server && database ? { database, server } : null;
}

async function repairDatabase(db: Knex, check: CheckResult): Promise<JobPlan | null> {
  if (hasCause(check, 'unreachable') || !hasCause(check, 'database-missing', 'owner-drifted', 'grant-drifted', 'user-missing')) return null;
  const target = await targetOf(db, check.resource.key);
  if (!target) return null;
  const apply = await databaseApplyJob(db, target.database);
  const users: { name: string; verifier: string; allowFrom: string[] }[] = await db('database_grants as g')
    .join('database_users as u', 'u.id', 'g.user_id')
    .where('g.database_id', target.database.id)
    .orderBy('u.full_name')
    .select('u.full_name as name', 'u.verifier', 'u.allow_from as allowFrom');
  return plan({
    op: healthRepairDatabase,
    payload: { ...(apply.payload as PayloadOf<typeof databaseApply>), users },
    target: apply.target,
    ownerId: target.database.owner_id,
  });
}

export const databaseChecks: CheckKind = {
  type: DATABASE_RESOURCE,
  op: healthCheckDatabase,
  async plan(db) {
    const servers = new Map<string, DbServerRow>((await db('db_servers')).map((s: DbServerRow) => [s.id, s]));
    const databases: DatabaseRow[] = await db('databases').orderBy('full_name');
    const sizes = await measuredSizes(db);
    const owners = new Map<string, Pick<UserRow, 'limits'>>(
      (
        await db('users')
          .whereIn('id', [...new Set(databases.map((d) => d.owner_id))])
          .select('id', 'limits')
      ).map((u: UserRow) => [u.id, u]),
    );
    const totals = new Map<string, number>();
    for (const d of databases) {
      const server = servers.get(d.server_id);
      const size = server ? (sizes.get(databaseKey(d, server))?.bytes ?? 0) : 0;
      totals.set(d.owner_id, (totals.get(d.owner_id) ?? 0) + size);
    }
    // Each server's host and ref once, and every grant in one query: a round over a thousand databases is a few queries.
    const hosts = new Map<string, { maintenance: boolean }>(
      (
        await db('hosts')
          .whereIn('name', [...new Set([...servers.values()].map((s) => s.host))])
          .select('name', 'maintenance')
      ).map((h: { name: string; maintenance: boolean }) => [h.name, h]),
    );
    const refs = new Map<string, Awaited<ReturnType<typeof serverRefOf>>>();
    for (const server of servers.values())
      if (hosts.get(server.host)?.maintenance === false) refs.set(server.id, await serverRefOf(db, server));
    const grants = await grantsByDatabase(db);
    const planned: JobPlan[] = [];
    for (const d of databases) {
      const server = servers.get(d.server_id);
      const ref = refs.get(d.server_id);
      if (!server || !ref) continue;
      const key = databaseKey(d, server);
      const own = sizes.get(key)?.bytes ?? 0;
      const owner = owners.get(d.owner_id);
      const limitBytes = Math.round((owner ? effectiveLimits(owner).databaseMb : 0) * MIB);
      planned.push(
        plan({
          op: healthCheckDatabase,
          payload: {
            resource: { type: DATABASE_RESOURCE, key },
            server: ref,
            database: { id: d.id, name: d.full_name },
            grants: grants.get(d.id) ?? [],
            size: { limitBytes, othersBytes: Math.max(0, (totals.get(d.owner_id) ?? 0) - own) },
          },
          target: key,
        }),
      );
    }
    return planned;
  },
  policy: {
    failAfter: FAIL_AFTER,
    causedElsewhere: ON_HOST,
    repair: { after: REPAIR_AFTER, plan: repairDatabase },
  },
  owner: async (db, key) => (await targetOf(db, key))?.database.owner_id ?? null,
};
