import { healthCheckApp } from '../../../queues/apps/health.ts';
import { defineHandler } from '../../runtime/define.ts';
import { probe } from '../../runtime/probe.ts';
import { judgeReplicas, replicasProbe } from '../replicas.ts';

export default defineHandler({
  op: healthCheckApp,
  async run(payload, { connect, signal }) {
    const exec = connect(payload.host);
    const output = await probe(exec, replicasProbe(payload.app.replicas), payload.resource, signal);
    if (typeof output !== 'string') return output;
    const findings = judgeReplicas(output, payload.app.replicas, exec.host);
    const problems = findings.flatMap((f) => f.problems);
    return {
      resource: payload.resource,
      healthy: problems.length === 0,
      problems,
      measurements: {
        replicas: findings.length,
        answering: findings.filter((f) => f.running && f.status > 0 && f.status < 500).length,
        // Each replica's restart count: the next round finds more (podman restarting it) as a problem.
        ...Object.fromEntries(findings.map((f) => [`restarts:${f.key}`, f.restarts])),
      },
    };
  },
});
