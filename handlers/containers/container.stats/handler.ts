import { sh } from '../../../lib/exec/index.ts';
import { containerStats } from '../../../queues/containers/ops.ts';
import { defineHandler } from '../../runtime/define.ts';

const FORMAT = '{{.Name}} {{.ContainerStats.CPU}} {{.ContainerStats.MemUsage}} {{.ContainerStats.MemLimit}} {{.ContainerStats.PIDs}}';

/** One `podman stats` sample of the running containers among `keys` (a stopped one has none). */
export function parseStats(stdout: string, keys: readonly string[]) {
  const wanted = new Set(keys);
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([key, ...rest]) => wanted.has(key) && rest.length === 4)
    .map(([key, cpu, memory, limit, pids]) => ({
      key,
      cpuPercent: Math.round(Number(cpu) * 100) / 100 || 0,
      memoryBytes: Number(memory) || 0,
      memoryLimitBytes: Number(limit) || 0,
      pids: Number(pids) || 0,
    }));
}

export default defineHandler({
  op: containerStats,
  async run({ host, keys }, ctx) {
    const exec = ctx.connect(host);
    const running = await exec.run(sh`podman ps -q --filter label=up.managed=true --format '{{.Names}}'`, { signal: ctx.signal });
    const present = keys.filter((k) => running.stdout.split('\n').includes(k));
    if (present.length === 0) return { stats: [] };
    const out = await exec.run(sh`podman stats --no-stream --format ${FORMAT} ${present}`, { signal: ctx.signal, timeoutMs: 20_000 });
    return { stats: parseStats(out.stdout, present) };
  },
});
