import { setTimeout as sleep } from 'node:timers/promises';
import { PermanentError } from '../../../lib/errors.ts';
import { script, sh, type Executor } from '../../../lib/exec/index.ts';
import { appRollout, LOG_TAIL_BYTES } from '../../../queues/apps/ops.ts';
import type { ContainerSpec } from '../../../queues/containers/ops.ts';
import type { PayloadOf, ResultOf } from '../../../queues/operation.ts';
import { convergeContainer, withContainerLock } from '../../containers/container.apply/handler.ts';
import { writeGeneration } from '../../containers/podman.ts';
import { defineHandler, type HandlerContext } from '../../runtime/define.ts';

const POLL_MS = 500;
const STOPPED_GRACE_MS = 5_000;

/**
 * Starts every replica of the release (ordinary tenant containers, converged as container.apply
 * does) and waits until each is ready: its healthcheck passes when it has one (run here: podman
 * schedules healthchecks through systemd timers, which a host need not have), else its published
 * port accepts a connection. The replicas serving now are not touched: nginx switches to these
 * only after this job succeeded. When one is not ready in time, all of them go (with their logs
 * in the error) and the old release keeps serving.
 */
export async function rollOut(payload: PayloadOf<typeof appRollout>, ctx: HandlerContext): Promise<ResultOf<typeof appRollout>> {
  const exec = ctx.connect(payload.host);
  const started: ContainerSpec[] = [];
  try {
    for (const spec of payload.replicas) {
      started.push(spec);
      await withContainerLock(exec, spec.id, () => convergeContainer(exec, spec, ctx));
    }
    const deadline = Date.now() + payload.waitSeconds * 1000;
    for (const spec of payload.replicas) await waitReady(exec, spec, deadline, ctx);
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    const logs = await removeReplicas(exec, started, ctx);
    const why = error instanceof Error ? error.message : String(error);
    throw new PermanentError(`release ${payload.release} did not start: ${why}\n${logs}`, { code: 'ROLLOUT_FAILED' });
  }
  ctx.log.info({ host: exec.host, app: payload.app.key, release: payload.release }, 'release ready');
  return {
    host: exec.host,
    release: payload.release,
    replicas: payload.replicas.map((r) => ({ id: r.id, key: r.key, generation: r.generation })),
  };
}

async function waitReady(exec: Executor, spec: ContainerSpec, deadline: number, ctx: HandlerContext): Promise<void> {
  const port = spec.ports[0];
  const probe = spec.healthcheck
    ? sh`podman healthcheck run ${spec.key} >/dev/null 2>&1`
    : port
      ? sh`timeout 2 bash -c ${`exec 3<>/dev/tcp/${port.address}/${port.host}`} 2>/dev/null`
      : sh`true`;
  let stoppedSince: number | null = null;
  for (;;) {
    const state = await exec.runScript(
      script(
        sh`echo "state $(podman container inspect --format '{{.State.Status}}' ${spec.key} 2>/dev/null || echo missing)"`,
        sh`if ${probe}; then echo ready; fi`,
      ),
      { signal: ctx.signal, timeoutMs: 30_000 },
    );
    if (/^ready$/m.test(state.stdout) && /^state running$/m.test(state.stdout)) return;
    // A replica that stays down (its restart policy gave up, or it exits at once) will not be ready.
    if (/^state (exited|stopped|missing)$/m.test(state.stdout)) {
      stoppedSince ??= Date.now();
      if (Date.now() - stoppedSince > STOPPED_GRACE_MS) throw new Error(`${spec.key} stopped`);
    } else stoppedSince = null;
    if (Date.now() > deadline)
      throw new Error(`${spec.key} was not ready in time (${/^state (\S+)$/m.exec(state.stdout)?.[1] ?? 'unknown'})`);
    await sleep(POLL_MS, undefined, { signal: ctx.signal });
  }
}

/** Removes what this release started (its generation files stay, as after a delete) and returns their logs' tails. */
async function removeReplicas(exec: Executor, specs: ContainerSpec[], ctx: HandlerContext): Promise<string> {
  let logs = '';
  for (const spec of specs) {
    const out = await exec
      .runScript(
        script(
          sh`echo ${`--- ${spec.name}:`}`,
          sh`podman logs --tail 40 ${spec.key} 2>&1 || true`,
          sh`podman rm -f -t 5 ${spec.key} >/dev/null 2>&1 || true`,
          writeGeneration(spec.id, spec.generation + 1),
        ),
        { signal: ctx.signal, timeoutMs: 60_000 },
      )
      .catch((error: Error) => ({ stdout: `--- ${spec.name}: ${error.message}\n` }));
    logs += out.stdout;
  }
  return logs.length > LOG_TAIL_BYTES ? `…${logs.slice(-LOG_TAIL_BYTES)}` : logs;
}

export default defineHandler({ op: appRollout, run: rollOut });
