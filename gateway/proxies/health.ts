/**
 * Each member's nginx is checked every round: running, its configuration valid, at the group's
 * generation. A failing member is repaired by the proxy.apply the API plans (as health.repair.proxy).
 */
import type { Knex } from 'knex';
import type { CheckResult } from '../../queues/health/checks.ts';
import { healthCheckProxy, healthRepairProxy } from '../../queues/proxies/health.ts';
import type { CheckKind } from '../domain.ts';
import { FAIL_AFTER, hasCause, ON_HOST, REPAIR_AFTER } from '../health/policy.ts';
import { plan, type JobPlan } from '../plan.ts';
import { proxyApplyOn } from './routes.ts';
import { getProxy, layoutOf, proxyMembers } from './store.ts';
import { proxyKey, proxyTargets, splitKey } from './targets.ts';

async function repairProxy(db: Knex, check: CheckResult): Promise<JobPlan | null> {
  const names = splitKey(check.resource.key);
  if (!names || hasCause(check, 'unreachable')) return null;
  const group = await getProxy(db, names[0]);
  const member = group && (await proxyMembers(db, group.id)).find((m) => m.name === names[1]);
  if (!group || !member) return null;
  return plan({ op: healthRepairProxy, ...(await proxyApplyOn(db, group, member)), ownerId: null });
}

export const proxyChecks: CheckKind = {
  type: 'proxy',
  op: healthCheckProxy,
  async plan(db, round) {
    const planned: JobPlan[] = [];
    for (const { group, member } of await proxyTargets(db)) {
      const key = proxyKey(group.name, member.name);
      const payload = {
        resource: { type: 'proxy', key },
        host: await round.refOf(member),
        layout: layoutOf(group, member),
        generation: group.generation,
      };
      planned.push(plan({ op: healthCheckProxy, payload, target: key }));
    }
    return planned;
  },
  policy: { failAfter: FAIL_AFTER, causedElsewhere: ON_HOST, repair: { after: REPAIR_AFTER, plan: repairProxy } },
};
