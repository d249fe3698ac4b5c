import { script, sh, type Command, type Executor } from '../../../lib/exec/index.ts';
import { PermanentError, SupersededError } from '../../../lib/errors.ts';
import { containerApply, type ContainerSpec } from '../../../queues/containers/ops.ts';
import type { HostRef } from '../../../queues/host-ref.ts';
import type { ResultOf } from '../../../queues/operation.ts';
import { defineHandler, type HandlerContext } from '../../runtime/define.ts';
import {
  clearStaleForwards,
  createCommand,
  ensureNetwork,
  afterStart,
  networkLock,
  ensureVolumes,
  parseState,
  specHash,
  stateProbe,
  writeGeneration,
  type ContainerState,
} from '../podman.ts';
import { deliverSecrets, envWrapper, imageEntry, secretsLock, sweepSecrets } from '../secrets.ts';

type Result = ResultOf<typeof containerApply>;

/**
 * Converges one container: a newer generation already here supersedes the message; a container
 * whose spec label matches only gets its running state (the cheap path every unchanged spec
 * takes: one round trip); anything else is created again from the spec, in the tenant's network.
 */
export async function applyContainer(host: HostRef, spec: ContainerSpec, ctx: HandlerContext): Promise<Result> {
  const exec = ctx.connect(host);
  return withContainerLock(exec, spec.id, async () => {
    const { before: _, ...result } = await convergeContainer(exec, spec, ctx);
    return result;
  });
}

/** Every job that changes a container holds its lock on the host: one change at a time. */
export const withContainerLock = <T>(exec: Executor, id: string, fn: () => Promise<T>) => exec.withLock(`container-${id}`, fn);

/** The convergence itself; the caller holds the container's lock. `force`: recreate even when the spec label matches. */
export async function convergeContainer(
  exec: Executor,
  spec: ContainerSpec,
  ctx: HandlerContext,
  options: { force?: boolean } = {},
): Promise<Result & { before: ContainerState }> {
  const before = parseState((await exec.runScript(stateProbe(spec.key, spec.id), { signal: ctx.signal })).stdout);
  if (before.generation > spec.generation) throw new SupersededError(`generation ${before.generation} of ${spec.key} is already applied`);
  if (before.status !== 'missing' && before.id !== spec.id)
    throw new PermanentError(
      `${spec.key} on ${exec.host} is another container (up.id ${before.id || 'none'}), not ${spec.id}: refusing to replace it`,
    );
  const current = before.status !== 'missing' && before.spec === specHash(spec) && !options.force;
  const commands = current
    ? [
        ...(spec.running && before.status !== 'running' ? [sh`podman start ${spec.key} >/dev/null`, afterStart(spec)] : []),
        ...(!spec.running && before.status === 'running' ? [sh`podman stop -t 10 ${spec.key} >/dev/null`] : []),
      ]
    : [];
  const changed = !current || commands.length > 0;
  const run = (steps: Command[]) =>
    exec.runScript(script(...steps, writeGeneration(spec.id, spec.generation)), { signal: ctx.signal, timeoutMs: 240_000 });
  const recreate = async () => {
    // Its secrets first (podman create names them), then the container; the tenant's secrets no container uses any more go.
    await deliverSecrets(exec, spec, ctx);
    const entry = spec.secrets?.some((s) => s.env) ? envWrapper(spec, await imageEntry(exec, spec.image, ctx)) : null;
    await run([
      ensureNetwork(spec.tenant),
      ...ensureVolumes(spec),
      ...(before.status === 'missing' ? [] : [sh`podman rm -f -t 10 ${spec.key} >/dev/null`]),
      ...clearStaleForwards(spec),
      createCommand(spec, entry),
      sweepSecrets(spec.tenant),
      ...(spec.running ? [afterStart(spec)] : []),
    ]);
  };
  // A new container needs its network (the last container's delete removes it) and its secrets (a sweep removes unused ones) to stay while it is made.
  if (!current) await exec.withLock(networkLock(spec.tenant), () => exec.withLock(secretsLock(spec.tenant), recreate));
  else if (changed || before.generation !== spec.generation) await run(commands);
  const status = changed ? (spec.running ? 'running' : before.status === 'missing' || !current ? 'created' : 'exited') : before.status;
  ctx.log.info({ host: exec.host, container: spec.key, generation: spec.generation, changed, recreated: !current }, 'container applied');
  return { host: exec.host, generation: spec.generation, changed, status, before };
}

export default defineHandler({ op: containerApply, run: ({ host, container }, ctx) => applyContainer(host, container, ctx) });
