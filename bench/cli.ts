/**
 * CLI start: `up --help` as a user runs it (`node bin/up.js --help`), wall and CPU milliseconds,
 * the median of 10 runs, against node's own start (`node -e 0`) on the same machine. bin/up.js
 * runs the client bundle (dist/cli/up.mjs) while it is fresh and the sources through tsx
 * otherwise: the bundle is built first when it is missing or stale (as `npm ci` does), and the
 * tsx path is measured too (what a checkout with an edited source pays).
 * Run directly: node --import tsx bench/cli.ts
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildCli } from '../scripts/build-cli.ts';
import { line, percentiles, round } from './stats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNS = 10;

function bundleIsFresh(): boolean {
  try {
    const built = statSync(`${ROOT}/dist/cli/up.mjs`).mtimeMs;
    const sources = readFileSync(`${ROOT}/dist/cli/up.sources`, 'utf8').split('\n').filter(Boolean);
    return sources.every((source) => statSync(`${ROOT}/${source}`).mtimeMs <= built);
  } catch {
    return false;
  }
}

/** Median wall ms (spawn to exit) and median CPU ms (user + system, from bash's `times` for its child). */
function measure(args: string[]): { wallMs: number; cpuMs: number } {
  const walls: number[] = [];
  const cpus: number[] = [];
  // One run first: the page cache and tsx's transform cache as a user's second run finds them.
  spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'ignore' });
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    const run = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    walls.push(performance.now() - started);
    if (run.status !== 0) throw new Error(`node ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  }
  for (let i = 0; i < RUNS; i++) {
    // `times` prints the shell's own user/system times, then its children's: the second line.
    const out = execFileSync('bash', ['-c', '"$@" >/dev/null 2>&1; times', 'bash', process.execPath, ...args], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const [user, system] = [
      ...out
        .trim()
        .split('\n')[1]
        .matchAll(/(\d+)m([\d.]+)s/g),
    ].map((m) => Number(m[1]) * 60_000 + Number(m[2]) * 1000);
    cpus.push(user + system);
  }
  return { wallMs: round(percentiles(walls).p50, 1), cpuMs: round(percentiles(cpus).p50, 1) };
}

/**
 * Builds the client bundle when it is missing or stale, as `npm ci` does: a bench that runs
 * `up` measures what users run, not the tsx path (about 300 ms more per start). True if it built.
 */
export async function ensureFreshCli(): Promise<boolean> {
  if (bundleIsFresh()) return false;
  await buildCli();
  return true;
}

export async function benchCli() {
  const built = await ensureFreshCli();
  const node = measure(['-e', '0']);
  const help = measure(['bin/up.js', '--help']);
  const tsx = measure(['--import', 'tsx', 'cli/bin.ts', '--help']);
  console.log(line('cli: node -e 0 (node alone, the floor)', node));
  console.log(
    line('cli: up --help (bin/up.js, the bundle)', { ...help, overNodeMs: round(help.wallMs - node.wallMs, 1), goalWallMs: 150 }),
  );
  console.log(line('cli: up --help through tsx (a stale bundle)', tsx));
  return { node, help, tsx, bundleBuiltFirst: built ? 'yes' : 'no' };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await benchCli()));
}
