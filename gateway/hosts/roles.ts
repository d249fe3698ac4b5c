/**
 * Host roles come from the domains: each says which Debian packages its role needs and which
 * job sets the role up once they are installed. `host.prepare` installs the packages of the
 * host's roles; when it succeeded, the set-ups follow as jobs of their own domains.
 */
import type { Knex } from 'knex';
import type { Domain, RoleSetup } from '../domain.ts';
import { writePlans, type JobPlan } from '../plan.ts';
import type { HostRow } from './store.ts';
import type { JobRow } from '../jobs-store.ts';

export const rolesOf = (domains: readonly Domain[]): RoleSetup[] => domains.flatMap((d) => d.roles ?? []);

/** The packages of these roles, each once, in a stable order. */
export function packagesFor(roles: readonly RoleSetup[], names: readonly string[]): string[] {
  return [...new Set(roles.filter((r) => names.includes(r.role)).flatMap((r) => r.packages))].sort();
}

/**
 * The set-up jobs of the host's roles, written as follow-ups of the host.prepare job that
 * installed their packages: the same correlation (`up hosts prepare --wait` follows it), the
 * same requester. The outbox's reconciler publishes them.
 */
export async function planRoleSetups(
  db: Knex,
  roles: readonly RoleSetup[],
  host: HostRow,
  prepared: Pick<JobRow, 'actor' | 'tenant' | 'owner_id' | 'correlation_id'>,
  publish: (jobs: readonly JobRow[]) => void,
): Promise<void> {
  const plans: JobPlan[] = [];
  for (const role of roles.filter((r) => host.roles.includes(r.role) && r.setup)) {
    const setup = await role.setup!(db, host);
    // The same outcome may arrive twice: its follow-ups are written once.
    if (setup && !(await db('jobs').where({ correlation_id: prepared.correlation_id, op: setup.op.name }).first('id'))) plans.push(setup);
  }
  if (plans.length === 0) return;
  const by = { actor: prepared.actor, tenant: prepared.tenant, ownerId: prepared.owner_id };
  publish(await db.transaction((trx) => writePlans(trx, plans, by, { correlationId: prepared.correlation_id })));
}
