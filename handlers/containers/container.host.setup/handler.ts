import { script, sh } from '../../../lib/exec/index.ts';
import { PermanentError } from '../../../lib/errors.ts';
import { render } from '../../../lib/render.ts';
import { containerHostSetup } from '../../../queues/containers/ops.ts';
import { defineHandler } from '../../runtime/define.ts';
import { STATE_DIR } from '../podman.ts';

export const CONTAINERS_CONF = '/etc/containers/containers.conf';

/** The host's hard limits: podman's default ulimits must not be above them (no CAP_SYS_RESOURCE needed). */
function hardLimit(text: string): number {
  const value = text.trim();
  return value === 'unlimited' ? Number.POSITIVE_INFINITY : Number(value) || 0;
}

export default defineHandler({
  op: containerHostSetup,
  async run({ host, ulimits }, ctx) {
    const exec = ctx.connect(host);
    // /proc, not `ulimit`: POSIX sh has no option for the process limit.
    const limits = (await exec.run(sh`cat /proc/self/limits`, { signal: ctx.signal })).stdout;
    const hard = (row: string) => hardLimit(new RegExp(`^${row}\\s+\\S+\\s+(\\S+)`, 'm').exec(limits)?.[1] ?? '0');
    const view = { nofile: Math.min(ulimits.nofile, hard('Max open files')), nproc: Math.min(ulimits.nproc, hard('Max processes')) };
    if (!(view.nofile > 0 && view.nproc > 0)) throw new PermanentError(`${exec.host}: cannot read the hard limits from /proc/self/limits`);
    const { changed } = await exec.putFile(CONTAINERS_CONF, render('config', 'containers/containers.conf.mustache', view), {
      mode: 0o644,
      owner: 'root',
      group: 'root',
    });
    // podman answering with the new configuration is the proof it works here.
    const info = await exec.runScript(
      script(sh`install -d -m 0700 ${STATE_DIR}`, sh`podman info --format '{{.Version.Version}} {{.Host.OCIRuntime.Name}}'`),
      { signal: ctx.signal, timeoutMs: 60_000 },
    );
    const [podman = '', runtime = ''] = info.stdout.trim().split(' ');
    if (runtime !== 'runc') throw new PermanentError(`${exec.host}: podman uses ${runtime || 'no runtime'}, not runc`);
    ctx.log.info({ host: exec.host, podman, changed }, 'container runtime set up');
    return { host: exec.host, changed, podman };
  },
});
