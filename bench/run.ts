import { benchApps } from './apps.ts';
import { benchCli } from './cli.ts';
import { benchContainers } from './containers.ts';
import { benchDatabases } from './databases.ts';
import { benchDns } from './dns.ts';
import { benchExec } from './exec.ts';
import { benchHealth } from './health.ts';
import { benchMail } from './mail.ts';
import { benchPipeline } from './pipeline.ts';
import { benchWebsites } from './websites.ts';
import { line } from './stats.ts';

/**
 * `npm run bench [name...]`: the benchmarks, each printing its figures next to the baseline
 * it compares against, in one run; the last line is one JSON object with all the figures.
 * Each file also runs alone (`node --import tsx bench/<name>.ts`) with a fuller table.
 */
const benches: Record<string, () => Promise<Record<string, unknown>>> = {
  pipeline: () => benchPipeline({ messages: Number(process.env.UP_BENCH_MESSAGES ?? 20_000) }),
  exec: benchExec,
  dns: () => benchDns(),
  websites: () => benchWebsites({ sizes: [1_000] }) as Promise<Record<string, unknown>>,
  health: () => benchHealth(),
  cli: benchCli,
  containers: () => benchContainers(),
  databases: () => benchDatabases(),
  apps: () => benchApps(),
  mail: () => benchMail(),
};

const chosen = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(benches);
const figures: Record<string, unknown> = {};
for (const name of chosen) {
  if (!benches[name]) throw new Error(`no benchmark "${name}" (known: ${Object.keys(benches).join(', ')})`);
  console.log(`\n== ${name}`);
  figures[name] = await benches[name]();
  if (name === 'exec' || name === 'dns') console.log(line(name, figures[name] as Record<string, number>));
}
console.log(JSON.stringify(figures));
