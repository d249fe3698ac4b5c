import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);
/** Debian's PostgreSQL 15; `UP_TEST_PG_BIN` points elsewhere. */
const BIN = process.env.UP_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PgCluster {
  port: number;
  dataDir: string;
  /** How long initdb and the first start took. */
  startupMs: { initdb: number; start: number };
  /** `postgres://postgres@127.0.0.1:<port>/<database>` (trust authentication). */
  url(database?: string): string;
  /** A database of its own on this cluster. */
  createDatabase(): Promise<string>;
  /** `pg_ctl stop -m fast`: sessions are ended, connections refused until `start`. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** SIGSTOP of every process of the cluster: it accepts TCP connections and answers nothing. */
  freeze(): void;
  thaw(): void;
  /** Stops the cluster whatever its state and removes its files. */
  destroy(): Promise<void>;
}

/**
 * A PostgreSQL cluster of the test's own, in a temporary directory, on its own port of
 * 127.0.0.1: fault-injection tests stop and freeze it, never the machine's shared server.
 * Run as the `postgres` user when the test runs as root (initdb refuses root).
 */
export async function startPgCluster(): Promise<PgCluster> {
  const home = mkdtempSync(join(tmpdir(), 'up-pg-'));
  const dataDir = join(home, 'data');
  const owner = process.getuid?.() === 0 ? postgresUser() : null;
  if (owner) chownSync(home, owner.uid, owner.gid);
  const as = owner ? { uid: owner.uid, gid: owner.gid } : {};
  const port = await freePort();

  const t0 = performance.now();
  await run(
    join(BIN, 'initdb'),
    ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'],
    { ...as, cwd: home },
  );
  const initdb = performance.now() - t0;
  const options = [
    `-c listen_addresses=127.0.0.1`,
    `-c port=${port}`,
    `-c unix_socket_directories=${home}`,
    // A throwaway cluster: durability buys nothing and costs the shared cores.
    `-c fsync=off`,
    `-c synchronous_commit=off`,
    `-c full_page_writes=off`,
    `-c shared_buffers=32MB`,
    `-c max_connections=100`,
  ].join(' ');
  const pgCtl = (...args: string[]) => run(join(BIN, 'pg_ctl'), ['-D', dataDir, ...args], { ...as, cwd: home });
  const start = async () => {
    await pgCtl('start', '-w', '-t', '60', '-l', join(home, 'log'), '-o', options);
  };
  const t1 = performance.now();
  await start();
  const startMs = performance.now() - t1;

  let frozen = false;
  const postmaster = () => Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const signalAll = (signal: NodeJS.Signals) => {
    const pid = postmaster();
    // The postmaster first: once it is stopped it forks nothing that could escape the freeze.
    if (signal === 'SIGSTOP') process.kill(pid, signal);
    for (const child of childrenOf(pid)) process.kill(child, signal);
    if (signal === 'SIGCONT') process.kill(pid, signal);
  };
  const onExit = () => {
    // A test that dies must not leave a stopped server behind.
    try {
      if (frozen) signalAll('SIGCONT');
      process.kill(postmaster(), 'SIGQUIT');
    } catch {
      // already gone
    }
    rmSync(home, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    onExit();
    process.kill(process.pid, signal);
  };
  process.once('exit', onExit);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, onSignal);

  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    port,
    dataDir,
    startupMs: { initdb: Math.round(initdb), start: Math.round(startMs) },
    url,
    async createDatabase() {
      const name = `up_test_${randomBytes(4).toString('hex')}`;
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    async stop() {
      await pgCtl('stop', '-m', 'fast', '-w');
    },
    start,
    freeze() {
      signalAll('SIGSTOP');
      frozen = true;
    },
    thaw() {
      signalAll('SIGCONT');
      frozen = false;
    },
    async destroy() {
      process.removeListener('exit', onExit);
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.removeListener(signal, onSignal);
      if (frozen) signalAll('SIGCONT');
      await pgCtl('stop', '-m', 'immediate', '-w').catch(() => undefined);
      rmSync(home, { recursive: true, force: true });
    },
  };
}

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** The direct children of a process (the postmaster's backends and helpers), from /proc. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return children;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
