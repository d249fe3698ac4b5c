import { script, sh, type Command } from '../../lib/exec/index.ts';
import { PermanentError, SupersededError } from '../../lib/errors.ts';
import type { containerStart } from '../../queues/containers/ops.ts';
import type { PayloadOf, ResultOf } from '../../queues/operation.ts';
import type { HandlerContext } from '../runtime/define.ts';
import { afterStart, parseState, stateProbe, writeGeneration } from './podman.ts';

type Verb = 'start' | 'stop' | 'restart';

const COMMANDS: Record<Verb, (key: string) => Command> = {
  start: (key) => sh`podman start ${key} >/dev/null`,
  stop: (key) => sh`podman stop -t 10 ${key} >/dev/null`,
  restart: (key) => sh`podman restart -t 10 ${key} >/dev/null`,
};

/** start, stop and restart: the container must be this one, at no newer generation. */
export async function power(
  verb: Verb,
  { host, container }: PayloadOf<typeof containerStart>,
  ctx: HandlerContext,
): Promise<ResultOf<typeof containerStart>> {
  const exec = ctx.connect(host);
  return exec.withLock(`container-${container.id}`, async () => {
    const before = parseState((await exec.runScript(stateProbe(container.key, container.id), { signal: ctx.signal })).stdout);
    if (before.generation > container.generation) throw new SupersededError();
    if (before.status === 'missing' || before.id !== container.id)
      throw new PermanentError(`${container.key} does not exist on ${exec.host}: apply it first`);
    const noop = (verb === 'start' && before.status === 'running') || (verb === 'stop' && before.status !== 'running');
    const started = !noop && verb !== 'stop' ? [afterStart(container)] : [];
    await exec.runScript(
      script(...(noop ? [] : [COMMANDS[verb](container.key)]), ...started, writeGeneration(container.id, container.generation)),
      {
        signal: ctx.signal,
        timeoutMs: 60_000,
      },
    );
    const after = parseState((await exec.runScript(stateProbe(container.key, container.id), { signal: ctx.signal })).stdout);
    return { host: exec.host, generation: container.generation, changed: !noop, status: after.status };
  });
}
