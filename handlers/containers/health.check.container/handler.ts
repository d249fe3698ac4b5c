import { script, sh } from '../../../lib/exec/index.ts';
import type { Problem } from '../../../queues/health/checks.ts';
import { healthCheckContainer } from '../../../queues/containers/health.ts';
import type { PayloadOf } from '../../../queues/operation.ts';
import { defineHandler } from '../../runtime/define.ts';
import { probe } from '../../runtime/probe.ts';
import { parseState, stateProbe, type ContainerState } from '../podman.ts';

type Payload = PayloadOf<typeof healthCheckContainer>;

/** One round trip: the container's state and generation, and its own healthcheck run once. */
export function containerProbe({ container }: Pick<Payload, 'container'>) {
  return script(
    stateProbe(container.key, container.id),
    // conmon does not always see a cgroup v1 OOM kill; the kernel log names the container's cgroup.
    sh`id=$(podman container inspect --format '{{.Id}}' ${container.key} 2>/dev/null) || id=''`,
    sh`if [ -n "$id" ] && dmesg 2>/dev/null | grep -F "libpod-$id" | grep -q oom-kill; then echo oom yes; fi`,
    ...(container.healthcheck
      ? [sh`if podman healthcheck run ${container.key} >/dev/null 2>&1; then echo healthcheck passing; else echo healthcheck failing; fi`]
      : []),
  );
}

export function judgeContainer(
  output: string,
  { container }: Pick<Payload, 'container'>,
  host: string,
): { problems: Problem[]; state: ContainerState } {
  const state = parseState(output);
  const where = `${container.key} on ${host}`;
  const problems: Problem[] = [];
  if (state.status === 'missing' || state.id !== container.id) {
    problems.push({ cause: 'container-missing', message: `${where} does not exist` });
    return { problems, state };
  }
  if (state.generation < container.generation)
    problems.push({ cause: 'container-stale', message: `${where} is at generation ${state.generation}, not ${container.generation}` });
  if (container.running && state.status !== 'running') {
    const oom = state.oomKilled || /^oom yes$/m.test(output);
    const why = oom ? ': killed for exceeding its memory limit' : ` (exit code ${state.exitCode})`;
    problems.push({ cause: 'container-down', message: `${where} is ${state.status}${why}` });
  } else if (container.running && output.includes('\nhealthcheck failing'))
    problems.push({ cause: 'container-unhealthy', message: `the healthcheck of ${where} fails` });
  if (state.restarts > container.restarts)
    problems.push({
      cause: 'container-restarting',
      message: `${where} restarted ${state.restarts - container.restarts} time(s) since the last check${state.oomKilled || /^oom yes$/m.test(output) ? ' (out of memory)' : ''}`,
    });
  return { problems, state };
}

export default defineHandler({
  op: healthCheckContainer,
  async run(payload, { connect, signal }) {
    const exec = connect(payload.host);
    const output = await probe(exec, containerProbe(payload), payload.resource, signal);
    if (typeof output !== 'string') return output;
    const { problems, state } = judgeContainer(output, payload, exec.host);
    return {
      resource: payload.resource,
      healthy: problems.length === 0,
      problems,
      measurements: { restarts: state.restarts, generation: state.generation, running: state.status === 'running' ? 1 : 0 },
    };
  },
});
