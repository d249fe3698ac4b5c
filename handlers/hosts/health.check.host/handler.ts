import { sh } from '../../../lib/exec/index.ts';
import { RetryableError } from '../../../lib/errors.ts';
import type { Problem } from '../../../queues/health/checks.ts';
import { healthCheckHost } from '../../../queues/hosts/health.ts';
import { defineHandler } from '../../runtime/define.ts';

/** One round trip: root filesystem use, memory use, load and CPU count. */
const MEASURE = sh`df -P / | awk 'NR==2 { sub("%", "", $5); print "disk", $5 }'; awk '/^MemTotal/ { t=$2 } /^MemAvailable/ { a=$2 } END { print "memory", (t-a)*100/t }' /proc/meminfo; awk '{ print "load1", $1 }' /proc/loadavg; echo cpus $(nproc)`;

export default defineHandler({
  op: healthCheckHost,
  async run({ resource, host, thresholds }, { connect, signal }) {
    let output: string;
    try {
      output = (await connect(host).run(MEASURE, { signal, timeoutMs: 15_000 })).stdout;
    } catch (error) {
      // Not reaching the host is the finding, not a failure of the check.
      if (error instanceof RetryableError || (error as Error).name === 'HostKeyMismatchError') {
        return {
          resource,
          healthy: false,
          problems: [{ cause: 'unreachable', message: `cannot reach ${host.name} over SSH: ${(error as Error).message}` }],
          measurements: {},
        };
      }
      throw error;
    }
    const m = Object.fromEntries(
      output
        .trim()
        .split('\n')
        .map((line) => line.split(' '))
        .map(([k, v]) => [k, Number(v)]),
    );
    const measurements = { diskPercent: m.disk, memoryPercent: Math.round(m.memory * 10) / 10, load1: m.load1, cpus: m.cpus };
    const problems: Problem[] = [];
    if (m.disk > thresholds.diskPercent)
      problems.push({ cause: 'disk', message: `root filesystem ${m.disk}% full (threshold ${thresholds.diskPercent}%)` });
    if (m.memory > thresholds.memoryPercent)
      problems.push({ cause: 'memory', message: `memory ${measurements.memoryPercent}% used (threshold ${thresholds.memoryPercent}%)` });
    if (m.load1 / Math.max(1, m.cpus) > thresholds.loadPerCpu)
      problems.push({ cause: 'load', message: `load ${m.load1} on ${m.cpus} CPUs (threshold ${thresholds.loadPerCpu} per CPU)` });
    return { resource, healthy: problems.length === 0, problems, measurements };
  },
});
