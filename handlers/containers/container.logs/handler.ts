import { sh } from '../../../lib/exec/index.ts';
import { PermanentError } from '../../../lib/errors.ts';
import { containerLogs } from '../../../queues/containers/ops.ts';
import { defineHandler } from '../../runtime/define.ts';

/** A log line is at most this long in a result; the rest is cut (a result is a message, not a log store). */
const LINE_MAX = 4000;

/** `podman logs --timestamps`: each line starts with its RFC 3339 time. */
export function parseLogLines(stdout: string): { at: string; text: string }[] {
  return stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const cut = line.indexOf(' ');
      return { at: cut > 0 ? line.slice(0, cut) : '', text: (cut > 0 ? line.slice(cut + 1) : line).slice(0, LINE_MAX) };
    });
}

export default defineHandler({
  op: containerLogs,
  async run({ host, container, tail, since }, ctx) {
    const exec = ctx.connect(host);
    const labels = await exec.run(sh`podman container inspect --format '{{index .Config.Labels "up.id"}}' ${container.key}`, {
      signal: ctx.signal,
      okExitCodes: [0, 125],
    });
    if (labels.stdout.trim() !== container.id) throw new PermanentError(`${container.key} does not exist on ${exec.host}`);
    const read = await exec.run(
      since
        ? sh`podman logs --timestamps --tail ${tail} --since ${since} ${container.key} 2>&1`
        : sh`podman logs --timestamps --tail ${tail} ${container.key} 2>&1`,
      { signal: ctx.signal, timeoutMs: 20_000 },
    );
    const lines = parseLogLines(read.stdout);
    return { lines, until: lines.at(-1)?.at || since || new Date().toISOString() };
  },
});
