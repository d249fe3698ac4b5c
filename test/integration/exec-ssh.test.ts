/**
 * What only the SSH executor has: host key pinning, connect failures, the connection pool,
 * dropped connections and jump hosts — against real sshd in lab network namespaces.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { PermanentError, RetryableError } from '../../lib/errors.ts';
import { sh } from '../../lib/exec/command.ts';
import { SshExecutor } from '../../lib/exec/ssh-executor.ts';
import { fetchHostKey } from '../../lib/exec/ssh-pool.ts';
import { AuthenticationError, HostKeyMismatchError, type TransientExecError } from '../../lib/exec/types.ts';
import { acceptedLogins, hostSpec, labHosts, type Lab, type LabHost } from '../helpers/lab-hosts.ts';

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} (${ms} ms)`)), ms)));
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

function isTransient(code: string) {
  return (error: unknown) => error instanceof RetryableError && (error as TransientExecError).code === code;
}

describe('SshExecutor', () => {
  let lab: Lab;
  let h1: LabHost;
  let h2: LabHost;
  const open: SshExecutor[] = [];
  const executor = (host: LabHost, options: ConstructorParameters<typeof SshExecutor>[1] = {}, extra = {}) => {
    const ex = new SshExecutor(hostSpec(host, extra), options);
    open.push(ex);
    return ex;
  };

  before(async () => {
    lab = await labHosts(2);
    [h1, h2] = lab.hosts;
  });
  after(async () => {
    await Promise.all(open.map((ex) => ex.close()));
    await lab?.down();
  });

  it('fetchHostKey returns the fingerprint ssh-keygen prints, without logging in', async () => {
    const before = acceptedLogins(h1);
    assert.equal(await fetchHostKey(h1.address, h1.port), h1.hostKeySha256);
    assert.equal(acceptedLogins(h1), before);
  });

  it('refuses a host whose key differs from the pinned one, naming both fingerprints', async () => {
    const ex = executor(h1, {}, { hostKeySha256: h2.hostKeySha256 });
    const error = await ex.run(sh`true`).catch((e: unknown) => e);
    assert.ok(error instanceof HostKeyMismatchError && error instanceof PermanentError);
    assert.equal(error.name, 'HostKeyMismatchError');
    assert.ok(error.message.includes(h2.hostKeySha256) && error.message.includes(h1.hostKeySha256), error.message);
  });

  it('a key the host does not accept is a permanent AuthenticationError', async () => {
    const stranger = ssh2.utils.generateKeyPairSync('ed25519');
    const ex = executor(h1, {}, { privateKey: Buffer.from(stranger.private) });
    await assert.rejects(ex.run(sh`true`), (e) => e instanceof AuthenticationError && e instanceof PermanentError);
  });

  it('a host that does not answer is retryable within the connect timeout', async () => {
    const ex = new SshExecutor({ ...hostSpec(h1), name: 'dead', address: lab.deadAddress }, { connectTimeoutMs: 1500 });
    open.push(ex);
    const started = Date.now();
    await assert.rejects(ex.run(sh`true`), isTransient('CONNECT_FAILED'));
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1000 && elapsed < 2500, `gave up after ${elapsed} ms`);
  });

  it('reuses one connection for many sequential commands', async () => {
    const ex = executor(h1);
    const before = acceptedLogins(h1);
    for (let i = 0; i < 20; i++) assert.equal((await ex.run(sh`echo ${i}`)).stdout, `${i}\n`);
    await ex.putFile(join(h1.dir, 'reuse.txt'), 'x');
    assert.equal(await until(() => acceptedLogins(h1) > before, 2000), undefined);
    assert.equal(acceptedLogins(h1) - before, 1, 'sshd saw exactly one login');
    assert.equal(ex.pool.stats.connectsTotal, 1);
  });

  it('opens a second connection when channels run out, and stays below MaxSessions', async () => {
    const ex = executor(h1, { maxChannelsPerConnection: 4, maxConcurrent: 16 });
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => ex.run(sh`sleep 0.3; echo ${i}`)));
    assert.deepEqual(
      results.map((r) => r.stdout),
      Array.from({ length: 12 }, (_, i) => `${i}\n`),
    );
    assert.ok(ex.pool.stats.connectsTotal >= 2 && ex.pool.stats.connectsTotal <= 4, `${ex.pool.stats.connectsTotal} connections`);
  });

  it('a connection dropped mid-command is retryable; the next run reconnects', async () => {
    const ex = executor(h1);
    await ex.run(sh`true`);
    const ppidFile = join(h1.dir, 'session.ppid');
    rmSync(ppidFile, { force: true });
    const running = ex.run(sh`echo $PPID > ${ppidFile}; exec sleep 30`).catch((e: unknown) => e);
    await until(() => existsSync(ppidFile) && readFileSync(ppidFile, 'utf8').endsWith('\n'), 5000);
    // The shell's parent is this session's own sshd process; killing it drops our connection only.
    const sessionSshd = Number(readFileSync(ppidFile, 'utf8'));
    assert.match(readFileSync(`/proc/${sessionSshd}/cmdline`, 'utf8'), /^sshd: root/);
    process.kill(sessionSshd, 'SIGKILL');
    const error = await running;
    assert.ok(isTransient('CONNECTION_LOST')(error), String(error));
    assert.equal((await ex.run(sh`echo back`)).stdout, 'back\n');
    assert.equal(ex.pool.stats.connectsTotal, 2);
  });

  it('keepalive notices a silent peer: retryable, not a hang', async () => {
    const ex = executor(h2, { keepaliveIntervalMs: 200, keepaliveCountMax: 2 });
    await ex.run(sh`true`);
    const veth = `uplab0v2`;
    const running = ex.run(sh`sleep 30`).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 200));
    execFileSync('ip', ['link', 'set', veth, 'down']);
    const started = Date.now();
    try {
      const error = await running;
      assert.ok(error instanceof RetryableError, String(error));
      assert.ok(Date.now() - started < 5000);
    } finally {
      execFileSync('ip', ['link', 'set', veth, 'up']);
    }
  });

  it('reaches a host through a jump host', async () => {
    const ex = executor(h2, {}, { jump: hostSpec(h1) });
    const before = acceptedLogins(h2, h1.address);
    const { stdout } = await ex.run(sh`ip -o -4 addr show dev eth0`);
    assert.match(stdout, new RegExp(`inet ${h2.address.replaceAll('.', '\\.')}/24`));
    await until(() => acceptedLogins(h2, h1.address) > before, 2000);
    assert.equal(acceptedLogins(h2, h1.address) - before, 1, 'h2 saw the login come from h1');
    const path = join(h2.dir, 'via-jump.txt');
    assert.deepEqual(await ex.putFile(path, 'through h1'), { changed: true });
    assert.equal((await ex.readFile(path))?.toString(), 'through h1');
  });

  it('a jump host with the wrong key stops the connection to the target', async () => {
    const ex = executor(h2, {}, { jump: { ...hostSpec(h1), hostKeySha256: h2.hostKeySha256 } });
    await assert.rejects(ex.run(sh`true`), HostKeyMismatchError);
  });

  it('closes idle connections, and close() waits for running commands', async () => {
    const ex = executor(h1, { idleTimeoutMs: 200 });
    await ex.run(sh`true`);
    await until(() => ex.pool.stats.connections === 0, 3000);
    const running = ex.run(sh`sleep 0.4; echo finished`);
    await until(() => ex.pool.stats.channels === 1, 3000);
    await ex.close();
    assert.equal((await running).stdout, 'finished\n');
    await assert.rejects(ex.run(sh`true`), RetryableError);
  });

  it('more locks at once than the pool has channels: every holder still gets to run its commands', async () => {
    // 4 channels, 2 of them for commands: unbounded, 12 lock holders would take all 4 and the
    // commands under them would wait for a channel for ever.
    const ex = executor(h1, { maxConnections: 1, maxChannelsPerConnection: 4, maxConcurrent: 2, lockDir: join(h1.dir, 'locks') });
    const work = Array.from({ length: 12 }, (_, i) =>
      ex.withLock(`many-${i}`, async () => (await ex.run(sh`sleep 0.05; echo ${i}`)).stdout.trim()),
    );
    const done = await withTimeout(Promise.all(work), 30_000, 'the locks deadlocked');
    assert.deepEqual(
      done,
      Array.from({ length: 12 }, (_, i) => String(i)),
    );
    assert.ok(ex.pool.stats.channels <= 4);
  });

  it('a lock taken inside another is not held back by the cap on holders', async () => {
    const ex = executor(h1, { maxConnections: 1, maxChannelsPerConnection: 3, maxConcurrent: 2, lockDir: join(h1.dir, 'locks') });
    const nested = ex.withLock('outer', () => ex.withLock('inner', async () => (await ex.run(sh`echo nested`)).stdout));
    assert.equal(await withTimeout(nested, 30_000, 'the inner lock waited on the outer'), 'nested\n');
  });

  it('neither inspecting nor serialising an executor shows the private key', async () => {
    const spec = hostSpec(h1);
    const ex = executor(h1);
    await ex.run(sh`true`);
    const keyBody = spec.privateKey.toString().split('\n')[1];
    for (const shown of [inspect(ex, { depth: 20, showHidden: true }), JSON.stringify(ex), String(ex)]) {
      assert.ok(!shown.includes(keyBody) && !shown.includes('"data":['), shown);
    }
  });

  it('the lab hosts are separate machines on the network', async () => {
    const ex = executor(h1);
    const dir = join(h1.dir, 'marker');
    mkdirSync(dir, { recursive: true });
    assert.equal((await ex.run(sh`ip -o -4 addr show dev eth0 | grep -c ${h1.address}`)).stdout, '1\n');
    assert.equal((await ex.run(sh`ip route`)).stdout.includes('default'), false, 'no default route');
  });
});
