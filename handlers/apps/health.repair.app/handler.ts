import { healthRepairApp, servingReplicaOf } from '../../../queues/apps/health.ts';
import { repairContainer } from '../../containers/health.repair.container/handler.ts';
import { defineHandler } from '../../runtime/define.ts';
import { judgeReplicas, replicasProbe } from '../replicas.ts';

/**
 * The replicas are looked at again first: the check that planned this may be a round old, and
 * a replica that serves now is left alone. A failing one is repaired as any container is
 * (restart, then recreate); its port is its own, so nginx's upstream needs no change.
 */
export default defineHandler({
  op: healthRepairApp,
  async run({ host, replicas }, ctx) {
    const exec = ctx.connect(host);
    // Restarts are not a reason to act here: only a replica that fails now is.
    const looked = replicas.map((spec) => servingReplicaOf(spec, Number.MAX_SAFE_INTEGER));
    const findings = judgeReplicas((await exec.runScript(replicasProbe(looked), { signal: ctx.signal })).stdout, looked, exec.host);
    const repaired = [];
    for (const [i, spec] of replicas.entries()) {
      if (findings[i].problems.length === 0) {
        repaired.push({ key: spec.key, repair: 'none' as const, status: 'running' });
        continue;
      }
      const { repair, status } = await repairContainer(exec, spec, ctx);
      repaired.push({ key: spec.key, repair, status, found: findings[i].problems.map((p) => p.message).join('; ') });
    }
    return { host: exec.host, replicas: repaired };
  },
});
