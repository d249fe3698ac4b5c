import { script, sh } from '../../../lib/exec/index.ts';
import { RetryableError, SupersededError } from '../../../lib/errors.ts';
import { CommandError } from '../../../lib/exec/errors.ts';
import { containerDelete } from '../../../queues/containers/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { networkLock, parseState, stateProbe, writeGeneration } from '../podman.ts';
import { secretsLock, sweepSecrets } from '../secrets.ts';

/**
 * Removes the container; its generation file stays (at the delete's generation), so an older
 * apply that arrives late is superseded instead of bringing it back. The tenant's network goes
 * with its last container on the host; named volumes stay (they hold the tenant's data).
 */
export default defineHandler({
  op: containerDelete,
  async run({ host, container }, ctx) {
    const exec = ctx.connect(host);
    return exec.withLock(`container-${container.id}`, async () => {
      const before = parseState((await exec.runScript(stateProbe(container.key, container.id), { signal: ctx.signal })).stdout);
      if (before.generation > container.generation) throw new SupersededError();
      const ours = before.status !== 'missing' && before.id === container.id;
      const { network } = container.tenant;
      const out = await exec
        .withLock(networkLock(container.tenant), () =>
          exec.withLock(secretsLock(container.tenant), () =>
            exec.runScript(
              script(
                ...(ours ? [sh`podman rm -f -t 10 ${container.key} >/dev/null`] : []),
                // The tenant's secrets that no container of theirs uses any more go with it.
                sweepSecrets(container.tenant),
                writeGeneration(container.id, container.generation),
                sh`if podman network exists ${network} && [ -z "$(podman ps -a -q --filter ${`network=${network}`})" ]; then podman network rm ${network} >/dev/null && echo network-removed; fi`,
              ),
              { signal: ctx.signal, timeoutMs: 60_000 },
            ),
          ),
        )
        .catch((error: unknown) => {
          // The container's mounts were still busy as it stopped: the next attempt removes it.
          if (error instanceof CommandError && /device or resource busy/.test(error.stderr))
            throw new RetryableError(error.message, { code: 'CONTAINER_BUSY' });
          throw error;
        });
      const networkRemoved = out.stdout.includes('network-removed');
      ctx.log.info({ host: exec.host, container: container.key, removed: ours, networkRemoved }, 'container deleted');
      return { host: exec.host, generation: container.generation, changed: ours || networkRemoved, networkRemoved };
    });
  },
});
