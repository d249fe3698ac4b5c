import { RetryableError } from '../../../lib/errors.ts';
import { CommandError } from '../../../lib/exec/errors.ts';
import { script, sh } from '../../../lib/exec/index.ts';
import { appRetire } from '../../../queues/apps/ops.ts';
import type { PayloadOf, ResultOf } from '../../../queues/operation.ts';
import { withContainerLock } from '../../containers/container.apply/handler.ts';
import { parseState, stateProbe, writeGeneration } from '../../containers/podman.ts';
import { defineHandler, type HandlerContext } from '../../runtime/define.ts';
import { appliedGeneration, nginxPaths } from '../../proxies/nginx.ts';

/**
 * The replicas of the release before go only when no proxy can still send them a request: each
 * member must serve the site generation that routes to the new release (its state file, which
 * website.apply writes only after nginx reloaded with it and the old workers left). A member not
 * there yet makes the job retry; one that left the group is not asked.
 */
export async function retire(payload: PayloadOf<typeof appRetire>, ctx: HandlerContext): Promise<ResultOf<typeof appRetire>> {
  for (const proxy of payload.proxies) {
    const generation = (await appliedGeneration(ctx.connect(proxy.host), nginxPaths(proxy.layout.baseDir), payload.site.id)) ?? 0;
    if (generation < payload.site.generation)
      throw new RetryableError(`${proxy.host.name} serves generation ${generation} of the site, not ${payload.site.generation} yet`, {
        code: 'PROXY_NOT_SWITCHED',
      });
  }
  const exec = ctx.connect(payload.host);
  const removed: string[] = [];
  for (const replica of payload.replicas) {
    await withContainerLock(exec, replica.id, async () => {
      const before = parseState((await exec.runScript(stateProbe(replica.key, replica.id), { signal: ctx.signal })).stdout);
      const ours = before.status !== 'missing' && before.id === replica.id;
      await exec
        .runScript(
          script(...(ours ? [sh`podman rm -f -t 10 ${replica.key} >/dev/null`] : []), writeGeneration(replica.id, replica.generation + 1)),
          { signal: ctx.signal, timeoutMs: 60_000 },
        )
        .catch((error: unknown) => {
          // As for container.delete: the mounts were still busy as it stopped; the next attempt removes it.
          if (error instanceof CommandError && /device or resource busy/.test(error.stderr))
            throw new RetryableError(error.message, { code: 'CONTAINER_BUSY' });
          throw error;
        });
      if (ours) removed.push(replica.key);
    });
  }
  ctx.log.info({ host: exec.host, app: payload.app.key, removed }, 'release retired');
  return { host: exec.host, removed };
}

export default defineHandler({ op: appRetire, run: retire });
