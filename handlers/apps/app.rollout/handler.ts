import { PermanentError } from '../../../lib/errors.ts';
import { script, sh, type Executor } from '../../../lib/exec/index.ts';
import { appRollout, LOG_TAIL_BYTES } from '../../../queues/apps/ops.ts';
import type { ContainerSpec } from '../../../queues/containers/ops.ts';
import type { PayloadOf, ResultOf } from '../../../queues/operation.ts';
import { convergeContainer, withContainerLock } from '../../containers/container.apply/handler.ts';
import { writeGeneration } from '../../containers/podman.ts';
import { defineHandler, type HandlerContext } from '../../runtime/define.ts';

const STOPPED_GRACE_SECONDS = 5;

/**
 * Starts every replica of the release (ordinary tenant containers, converged as container.apply
 * does) and waits until each is ready: it answers HTTP on its published port, and its
 * healthcheck passes when it has one (run here: podman schedules healthchecks through systemd
 * timers, which a host need not have). The replicas serving now are not touched: nginx switches to these
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

/**
 * Waits on the host, in one round trip, until the replica is ready: it answers HTTP on its
 * published port below 500, as the app's check wants it (curl from the host every 100 ms), then
 * its healthcheck passes. The healthcheck is a process in the container, under the replica's CPU
 * share, and `podman inspect` a process of its own: run at every poll they would slow the boot
 * they wait for, so the healthcheck runs once the app answers and the state is read about once
 * a second. A replica that stays down for STOPPED_GRACE_SECONDS (its restart policy gave up, or
 * it exits at once) will not be ready.
 */
async function waitReady(exec: Executor, spec: ContainerSpec, deadline: number, ctx: HandlerContext): Promise<void> {
  const port = spec.ports[0];
  const url = port && `http://${port.address.includes(':') ? `[${port.address}]` : port.address}:${port.host}/`;
  const state = sh`podman container inspect --format '{{.State.Status}}' ${spec.key} 2>/dev/null || echo missing`;
  const answering = url
    ? sh`code=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 1 --max-time 3 ${url} 2>/dev/null || true); [ "$code" -ge 100 ] && [ "$code" -lt 500 ]`
    : sh`[ "$(${state})" = running ]`;
  const healthy = spec.healthcheck ? sh`podman healthcheck run ${spec.key} >/dev/null 2>&1` : sh`true`;
  const seconds = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
  const { stdout } = await exec.runScript(
    script(
      sh`now() { date +%s; }`,
      sh`end=$(( $(now) + ${seconds} )); down_since=''; round=0; state=unknown`,
      sh`while :; do`,
      sh`  if ${answering} && ${healthy}; then echo ready; exit 0; fi`,
      sh`  if [ $(( round % 10 )) -eq 0 ]; then`,
      sh`    state=$(${state})`,
      sh`    case "$state" in`,
      sh`      exited|stopped|missing) if [ -z "$down_since" ]; then down_since=$(now); fi`,
      sh`        if [ $(( $(now) - down_since )) -ge ${STOPPED_GRACE_SECONDS} ]; then echo "stopped $state"; exit 0; fi ;;`,
      sh`      *) down_since='' ;;`,
      sh`    esac`,
      sh`  fi`,
      sh`  if [ "$(now)" -ge "$end" ]; then echo "late $state"; exit 0; fi`,
      sh`  round=$(( round + 1 )); sleep 0.1`,
      sh`done`,
    ),
    { signal: ctx.signal, timeoutMs: seconds * 1000 + 30_000 },
  );
  const [outcome, last = 'unknown'] = stdout.trim().split(/\s+/);
  if (outcome === 'ready') return;
  throw new Error(outcome === 'stopped' ? `${spec.key} stopped (${last})` : `${spec.key} was not ready in time (${last})`);
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
