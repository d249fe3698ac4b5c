import type { Knex } from 'knex';
import { containerHostSetup } from '../../queues/containers/ops.ts';
import { hostRefOf, type HostRow } from '../hosts/store.ts';
import { plan, type JobPlan } from '../plan.ts';

/** podman's default ulimits, lowered on the host to its hard limits (the handler reads them). */
const ULIMITS = { nofile: 65_536, nproc: 32_768 };

/** podman configured on a host of the containers role, once its packages are installed. */
export async function containerHostSetupOf(db: Knex, host: HostRow): Promise<JobPlan | null> {
  return plan({ op: containerHostSetup, payload: { host: await hostRefOf(db, host), ulimits: ULIMITS }, target: host.name });
}
