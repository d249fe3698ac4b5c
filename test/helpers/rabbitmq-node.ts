/**
 * A RabbitMQ node of the test's own (test/lab/rabbitmq.sh): its own node name, ports, data
 * directory and cookie, so that a test may stop, kill -9 and restart it without disturbing the
 * machine's shared broker or anyone else's tests. Random names and ports: no lab lock needed.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const RABBITMQ_SH = fileURLToPath(new URL('../lab/rabbitmq.sh', import.meta.url));

export interface RabbitNode {
  /** `amqp://guest:guest@127.0.0.1:<port>`, the default vhost: the whole node is the test's. */
  readonly url: string;
  readonly node: string;
  /** Milliseconds from launching the node until it accepted AMQP, for each start so far. */
  readonly startTimes: number[];
  /** Starts it again (same name, ports and data); resolves once it accepts AMQP, with how long that took. */
  start(): Promise<number>;
  /** Graceful stop, as `rabbitmqctl stop`. */
  stop(): Promise<void>;
  /** kill -9 of the node's processes. */
  kill(): Promise<void>;
  /** rabbitmqctl against this node. */
  ctl(...args: string[]): Promise<string>;
  /** The node's own log so far (every start). */
  log(): string;
  /** Kill it and remove its data. */
  cleanup(): Promise<void>;
}

interface Described {
  node: string;
  url: string;
  pid: number;
}

/** Starts a private node; `cleanup` (or the test process exiting) removes it. */
export async function startRabbitNode(): Promise<RabbitNode> {
  const dir = mkdtempSync(join(tmpdir(), 'up-rabbit-'));
  const sh = async (...args: string[]) => (await run(RABBITMQ_SH, args, { maxBuffer: 16 * 1024 * 1024 })).stdout;
  let session: number | null = null;
  // A test process that dies without cleanup must not leave a broker behind.
  const onExit = () => {
    if (session !== null) {
      try {
        process.kill(-session, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  const startTimes: number[] = [];
  const start = async () => {
    const began = performance.now();
    const described = JSON.parse(await sh('up', dir)) as Described;
    const ms = Math.round(performance.now() - began);
    startTimes.push(ms);
    session = described.pid;
    return { described, ms };
  };

  const { described } = await start().catch((error) => {
    onExit();
    process.off('exit', onExit);
    throw error;
  });
  return {
    url: described.url,
    node: described.node,
    startTimes,
    start: async () => (await start()).ms,
    async stop() {
      await sh('stop', dir);
      session = null;
    },
    async kill() {
      await sh('kill', dir);
      session = null;
    },
    ctl: (...args) => sh('ctl', dir, ...args),
    log: () => readFileSync(join(dir, 'log', `${described.node}.log`), 'utf8'),
    async cleanup() {
      await sh('down', dir);
      session = null;
      process.off('exit', onExit);
    },
  };
}
