import { script, sh, type Executor } from '../../../lib/exec/index.ts';
import type { ContainerSpec } from '../../../queues/containers/ops.ts';
import { healthRepairContainer } from '../../../queues/containers/health.ts';
import { defineHandler, type HandlerContext } from '../../runtime/define.ts';
import { convergeContainer, withContainerLock } from '../container.apply/handler.ts';
import { afterStart, parseState, specHash, stateProbe } from '../podman.ts';

/** How long a restarted container gets to be running (and pass its healthcheck) before it is recreated. */
const SETTLE_MS = 3_000;

/**
 * Restart first (cheap, keeps the container's writable layer); when the container is missing,
 * not from this spec, or still not running afterwards, recreate it from the stored spec.
 */
export async function repairContainer(exec: Executor, container: ContainerSpec, ctx: HandlerContext) {
  return withContainerLock(exec, container.id, async () => {
    const before = parseState((await exec.runScript(stateProbe(container.key, container.id), { signal: ctx.signal })).stdout);
    const restartable =
      container.running &&
      before.status !== 'missing' &&
      before.id === container.id &&
      before.spec === specHash(container) &&
      before.generation === container.generation;
    if (restartable) {
      await exec.runScript(script(sh`podman restart -t 10 ${container.key} >/dev/null`, afterStart(container)), {
        signal: ctx.signal,
        timeoutMs: 60_000,
      });
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const healthy = container.healthcheck
        ? (await exec.run(sh`podman healthcheck run ${container.key}`, { signal: ctx.signal, okExitCodes: [0, 1, 125] })).exitCode === 0
        : true;
      const after = parseState((await exec.runScript(stateProbe(container.key, container.id), { signal: ctx.signal })).stdout);
      if (after.status === 'running' && healthy) {
        ctx.log.info({ host: exec.host, container: container.key }, 'container restarted by repair');
        return { host: exec.host, generation: container.generation, changed: true, status: after.status, repair: 'restarted' as const };
      }
    }
    const { before: _, ...applied } = await convergeContainer(exec, container, ctx, { force: true });
    ctx.log.info({ host: exec.host, container: container.key }, 'container recreated by repair');
    return { ...applied, repair: 'recreated' as const };
  });
}

export default defineHandler({
  op: healthRepairContainer,
  run: ({ host, container }, ctx) => repairContainer(ctx.connect(host), container, ctx),
});
