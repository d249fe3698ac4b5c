/**
 * What every Executor must do, checked against both: SshExecutor on a lab host (real sshd in
 * a network namespace) and LocalExecutor on this machine.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PermanentError, RetryableError } from '../../lib/errors.ts';
import { sh } from '../../lib/exec/command.ts';
import { LocalExecutor } from '../../lib/exec/local-executor.ts';
import { SshExecutor } from '../../lib/exec/ssh-executor.ts';
import { CommandError, type TransientExecError, type Executor } from '../../lib/exec/types.ts';
import { hostSpec, labHosts, type Lab } from '../helpers/lab-hosts.ts';

const LIB = fileURLToPath(new URL('../../lib/exec/', import.meta.url));

interface Target {
  /** A fresh executor with its own connections, as another process would have. */
  make(): Executor;
  /** A directory on the target this suite may use; the test process sees it too. */
  dir: string;
  /** Environment for a child process that builds the same kind of executor. */
  childEnv: Record<string, string>;
}

/** A separate node process that takes the lock `iterations` times after we say go. */
const CHILD = `
import { readFileSync } from 'node:fs';
const { sh } = await import(process.env.LIB + 'command.ts');
const env = process.env;
let executor;
if (env.KIND === 'ssh') {
  const { SshExecutor } = await import(env.LIB + 'ssh-executor.ts');
  const spec = JSON.parse(env.SPEC);
  executor = new SshExecutor({ ...spec, privateKey: readFileSync(spec.privateKeyFile) });
} else {
  const { LocalExecutor } = await import(env.LIB + 'local-executor.ts');
  executor = new LocalExecutor({ lockDir: env.LOCK_DIR });
}
await executor.run(sh\`true\`);
process.stdout.write('ready\\n');
process.stdin.once('data', async () => {
  for (let i = 0; i < Number(env.ITERATIONS); i++) {
    await executor.withLock(env.LOCK, () => executor.run(sh\`s=$(date +%s%N); sleep 0.15; echo "$s $(date +%s%N) child" >> \${env.LOG}\`));
  }
  await executor.close();
});
`;

function startChild(target: Target, lock: string, log: string, iterations: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
    env: { ...process.env, ...target.childEnv, LIB, LOCK: lock, LOG: log, ITERATIONS: String(iterations) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`lock child exited ${code} before it was ready`)));
  });
  const done = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { ready, go: () => child.stdin.end('go\n'), done };
}

function assertSerial(log: string, expected: number): void {
  const intervals = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(' ').slice(0, 2).map(BigInt));
  assert.equal(intervals.length, expected);
  intervals.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  for (let i = 1; i < intervals.length; i++) {
    assert.ok(intervals[i][0] >= intervals[i - 1][1], `lock holders overlap: ${intervals[i - 1]} and ${intervals[i]}`);
  }
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

async function eventually(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

function contract(name: string, setup: () => Promise<Target>, teardown: () => Promise<void>): void {
  describe(name, () => {
    let target: Target;
    let ex: Executor;
    before(async () => {
      target = await setup();
      ex = target.make();
    });
    after(async () => {
      await ex?.close();
      await teardown();
    });

    it('runs a command: exit code, stdout, stderr, duration', async () => {
      const result = await ex.run(sh`echo out; echo err >&2`);
      assert.equal(result.exitCode, 0);
      assert.equal(result.stdout, 'out\n');
      assert.equal(result.stderr, 'err\n');
      assert.ok(result.durationMs > 0 && result.durationMs < 10_000);
    });

    it('a failing command is a permanent CommandError carrying exit code and stderr', async () => {
      const error = await ex.run(sh`echo partial; echo 'no such thing' >&2; exit 3`).catch((e: unknown) => e);
      assert.ok(error instanceof CommandError && error instanceof PermanentError);
      assert.equal(error.exitCode, 3);
      assert.equal(error.stdout, 'partial\n');
      assert.match(error.message, /exited 3: no such thing/);
      assert.equal((await ex.run(sh`exit 1`, { okExitCodes: [0, 1] })).exitCode, 1);
    });

    it('exit 255 is retryable', async () => {
      await assert.rejects(ex.run(sh`exit 255`), (e) => e instanceof RetryableError && (e as TransientExecError).code === 'EXIT_255');
    });

    it('hostile arguments arrive literally', async () => {
      const values = ['$(id)', '`id`', `it's "quoted"`, 'a; b && c | d', 'line\nbreak', '*', '-n', 'zürich ☃', '~', '$HOME'];
      for (const value of values) assert.equal((await ex.run(sh`printf '%s' ${value}`)).stdout, value);
    });

    it('a 100 KB hostile value arrives intact; a command over the argv limit is refused', async () => {
      const value = 'abc $(id) "x" `y` ; | & * \n'.repeat(4000).slice(0, 100 * 1024);
      assert.equal((await ex.run(sh`printf '%s' ${value}`)).stdout, value);
      await assert.rejects(
        ex.run(sh`printf '%s' ${'x'.repeat(200 * 1024)}`),
        (e) => e instanceof PermanentError && /128 KiB/.test(String(e)),
      );
    });

    it('stdin reaches the command byte for byte', async () => {
      const data = randomBytes(1 << 20);
      const { stdout } = await ex.run(sh`sha256sum`, { stdin: data });
      assert.equal(stdout.split(' ')[0], createHash('sha256').update(data).digest('hex'));
    });

    it('runScript sends set -eu + commands to sh -s and stops at the first failure', async () => {
      const { stdout } = await ex.runScript([sh`x=${'a b'}`, sh`echo "$x"`, sh`cat`, sh`echo done`]);
      assert.equal(stdout, 'a b\ndone\n');
      const error = await ex.runScript([sh`echo one`, sh`false`, sh`echo never`]).catch((e: unknown) => e);
      assert.ok(error instanceof CommandError);
      assert.equal(error.stdout, 'one\n');
    });

    it('a command that outlives its timeout is killed with its children: retryable TIMEOUT', async () => {
      const pidFile = join(target.dir, 'bg.pid');
      const started = Date.now();
      await assert.rejects(
        ex.run(sh`sleep 30 & echo $! > ${pidFile}; wait`, { timeoutMs: 500 }),
        (e) => e instanceof RetryableError && (e as TransientExecError).code === 'TIMEOUT',
      );
      assert.ok(Date.now() - started < 3000);
      const pid = Number(readFileSync(pidFile, 'utf8'));
      assert.ok(await eventually(() => processGone(pid), 5000), `background sleep ${pid} survived the timeout`);
    });

    it('aborting kills the command and rejects with the reason', async () => {
      const controller = new AbortController();
      const reason = new Error('shutting down');
      setTimeout(() => controller.abort(reason), 200);
      await assert.rejects(ex.run(sh`sleep 30`, { signal: controller.signal }), (e) => e === reason);
    });

    it('putFile creates with mode and owner, and skips an identical second write', async () => {
      const path = join(target.dir, `conf "a" 'b'.txt`);
      assert.deepEqual(await ex.putFile(path, 'one\n', { mode: 0o640, owner: 'nobody', group: 'nogroup' }), { changed: true });
      const { stdout } = await ex.run(sh`stat -c '%a %U %G' -- ${path}`);
      assert.equal(stdout, '640 nobody nogroup\n');
      assert.deepEqual(await ex.putFile(path, 'one\n', { mode: 0o640, owner: 'nobody', group: 'nogroup' }), { changed: false });
      assert.deepEqual(await ex.putFile(path, 'one\n'), { changed: false });
      assert.deepEqual(await ex.putFile(path, 'one\n', { mode: 0o600 }), { changed: true });
      assert.deepEqual(await ex.putFile(path, 'two\n'), { changed: true });
      assert.equal((await ex.run(sh`stat -c '%a %U %G' -- ${path}`)).stdout, '600 nobody nogroup\n', 'keeps metadata');
      assert.equal((await ex.readFile(path))?.toString(), 'two\n');
      assert.deepEqual(
        readdirSync(target.dir).filter((f) => f.includes('up-tmp')),
        [],
        'no temp files left',
      );
    });

    it('putFile and readFile round-trip binary content; a missing file reads as null', async () => {
      const path = join(target.dir, 'blob.bin');
      const data = randomBytes(300 * 1024 + 7);
      await ex.putFile(path, data);
      assert.deepEqual(await ex.readFile(path), data);
      assert.equal(statSync(path).mode & 0o7777, 0o644);
      assert.equal(await ex.readFile(join(target.dir, 'missing')), null);
    });

    it('putFile refuses to replace a directory and leaves nothing behind', async () => {
      const path = join(target.dir, 'a-directory');
      mkdirSync(path, { recursive: true });
      await assert.rejects(ex.putFile(path, 'x'), PermanentError);
      assert.deepEqual(
        readdirSync(target.dir).filter((f) => f.includes('up-tmp')),
        [],
      );
      await assert.rejects(ex.putFile(join(target.dir, 'no/such/dir/f'), 'x'), PermanentError);
      await assert.rejects(ex.putFile('relative/path', 'x'), PermanentError);
      await assert.rejects(ex.putFile('/etc/../etc/passwd', 'x'), PermanentError);
    });

    it('withLock serialises executors with separate connections and a second process', async () => {
      const log = join(target.dir, 'lock-intervals');
      rmSync(log, { force: true });
      const hold = (executor: Executor, who: string) =>
        executor.withLock('contract-serial', () => executor.run(sh`s=$(date +%s%N); sleep 0.15; echo "$s $(date +%s%N) ${who}" >> ${log}`));
      const other = target.make();
      const child = startChild(target, 'contract-serial', log, 3);
      try {
        await child.ready;
        child.go();
        await Promise.all([
          (async () => {
            for (let i = 0; i < 3; i++) await hold(ex, 'a');
          })(),
          (async () => {
            for (let i = 0; i < 3; i++) await hold(other, 'b');
          })(),
        ]);
        assert.equal(await child.done, 0);
      } finally {
        await other.close();
      }
      assertSerial(log, 9);
    });

    it('withLock returns fn’s value, passes on its error, and always releases', async () => {
      assert.equal(await ex.withLock('contract-value', async () => 42), 42);
      await assert.rejects(
        ex.withLock('contract-value', async () => {
          throw new Error('inside');
        }),
        /inside/,
      );
      assert.equal(await ex.withLock('contract-value', async () => 'again', { waitMs: 1000 }), 'again');
    });

    it('a busy lock is retryable LOCK_BUSY after waitMs; bad names are refused', async () => {
      const other = target.make();
      let release!: () => void;
      const held = ex.withLock('contract-busy', () => new Promise<void>((resolve) => (release = resolve)));
      try {
        await eventually(() => release !== undefined, 5000);
        const started = Date.now();
        await assert.rejects(
          other.withLock('contract-busy', async () => 'never', { waitMs: 400 }),
          (e) => e instanceof RetryableError && (e as TransientExecError).code === 'LOCK_BUSY',
        );
        assert.ok(Date.now() - started >= 350);
      } finally {
        release?.();
        await held;
        await other.close();
      }
      for (const bad of ['../x', 'a/b', '', '.hidden', 'UPPER', 'x'.repeat(65), 'a b']) {
        await assert.rejects(
          ex.withLock(bad, async () => 1),
          PermanentError,
        );
      }
    });
  });
}

const LAB = { prefix: 'up-lab-c', subnet: '10.77.2', bridge: 'uplab2' };
let lab: Lab | undefined;
contract(
  'SshExecutor (lab host over SSH)',
  async () => {
    lab = await labHosts(1, LAB);
    const host = lab.hosts[0];
    const dir = join(host.dir, 'contract');
    mkdirSync(dir, { recursive: true });
    return {
      make: () => new SshExecutor(hostSpec(host)),
      dir,
      childEnv: { KIND: 'ssh', SPEC: JSON.stringify({ ...hostSpec(host), privateKey: undefined, privateKeyFile: host.privateKeyFile }) },
    };
  },
  async () => lab?.down(),
);

let localDir: string | undefined;
contract(
  'LocalExecutor (this machine)',
  async () => {
    localDir = mkdtempSync(join(tmpdir(), 'up-exec-local-'));
    const lockDir = join(localDir, 'locks');
    const dir = join(localDir, 'files');
    mkdirSync(dir);
    return { make: () => new LocalExecutor({ lockDir }), dir, childEnv: { KIND: 'local', LOCK_DIR: lockDir } };
  },
  async () => {
    if (localDir && existsSync(localDir)) rmSync(localDir, { recursive: true, force: true });
  },
);
