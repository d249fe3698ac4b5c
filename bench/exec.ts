/**
 * What the SSH executor costs: commands per second over one pooled connection against a new
 * connection per command, and putFile throughput, on a lab host of its own.
 * Run directly: node --import tsx bench/exec.ts (as root).
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sh } from '../lib/exec/command.ts';
import { SshExecutor } from '../lib/exec/ssh-executor.ts';
import type { HostSpec } from '../lib/exec/ssh-pool.ts';
import { hostSpec, labHosts } from '../test/helpers/lab-hosts.ts';

const POOLED_RUNS = 200;
const FRESH_RUNS = 30;
const MiB = 1024 * 1024;

async function timed(work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

async function commandsPerSecond(spec: HostSpec): Promise<{ pooled: number; fresh: number }> {
  const pooled = new SshExecutor(spec);
  try {
    await pooled.run(sh`true`); // the one connection is not what this measures
    const pooledSeconds = await timed(async () => {
      for (let i = 0; i < POOLED_RUNS; i++) await pooled.run(sh`true`);
    });
    const freshSeconds = await timed(async () => {
      for (let i = 0; i < FRESH_RUNS; i++) {
        const fresh = new SshExecutor(spec);
        await fresh.run(sh`true`);
        await fresh.close();
      }
    });
    return { pooled: POOLED_RUNS / pooledSeconds, fresh: FRESH_RUNS / freshSeconds };
  } finally {
    await pooled.close();
  }
}

/** Each file differs from what is on the host, so no write is skipped by the checksum. */
async function putFileRate(ex: SshExecutor, dir: string, size: number, count: number) {
  const contents = Array.from({ length: count }, () => randomBytes(size));
  const seconds = await timed(async () => {
    for (let i = 0; i < count; i++) await ex.putFile(join(dir, `bench-${size}-${i}`), contents[i]);
  });
  return { filesPerSecond: count / seconds, mibPerSecond: (size * count) / MiB / seconds };
}

export async function benchExec(): Promise<Record<string, number>> {
  const lab = await labHosts(1, { prefix: 'up-bench', subnet: '10.77.1', bridge: 'uplab1' });
  try {
    const host = lab.hosts[0];
    const spec = hostSpec(host);
    const commands = await commandsPerSecond(spec);
    const ex = new SshExecutor(spec);
    try {
      await ex.run(sh`true`);
      const small = await putFileRate(ex, host.dir, 1024, 100);
      const large = await putFileRate(ex, host.dir, MiB, 20);
      return {
        'exec.pooled.commandsPerSecond': commands.pooled,
        'exec.newConnection.commandsPerSecond': commands.fresh,
        'exec.pooledOverNewConnection.ratio': commands.pooled / commands.fresh,
        'exec.putFile1KiB.filesPerSecond': small.filesPerSecond,
        'exec.putFile1KiB.mibPerSecond': small.mibPerSecond,
        'exec.putFile1MiB.filesPerSecond': large.filesPerSecond,
        'exec.putFile1MiB.mibPerSecond': large.mibPerSecond,
      };
    } finally {
      await ex.close();
    }
  } finally {
    await lab.down();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await benchExec();
  const f = (n: number) => n.toFixed(1);
  console.log(
    `commands/s  pooled (${POOLED_RUNS} runs): ${f(r['exec.pooled.commandsPerSecond'])}` +
      `   new connection each (${FRESH_RUNS} runs): ${f(r['exec.newConnection.commandsPerSecond'])}` +
      `   ratio: ${f(r['exec.pooledOverNewConnection.ratio'])}x`,
  );
  console.log(`putFile 1 KiB: ${f(r['exec.putFile1KiB.filesPerSecond'])} files/s, ${r['exec.putFile1KiB.mibPerSecond'].toFixed(3)} MiB/s`);
  console.log(`putFile 1 MiB: ${f(r['exec.putFile1MiB.filesPerSecond'])} files/s, ${f(r['exec.putFile1MiB.mibPerSecond'])} MiB/s`);
}
