/**
 * The executor for a remote host: commands as exec channels, files over SFTP, all through
 * one connection pool and one rate limiter per host.
 */
import { PassThrough, type Readable } from 'node:stream';
import { inspect } from 'node:util';
import Bottleneck from 'bottleneck';
import type { ClientChannel, SFTPWrapper } from 'ssh2';
import { PermanentError } from '../errors.ts';
import { sh, type Command } from './command.ts';
import { TransientExecError } from './errors.ts';
import { SshPool, type HostSpec, type Lease, type PoolOptions } from './ssh-pool.ts';
import { assertCommandSize, ShellExecutor, type ProcessExit, type ShellExecutorOptions, type StartedProcess } from './shell-executor.ts';

export interface SshExecutorOptions extends PoolOptions, ShellExecutorOptions {
  /** Commands in flight per host in this process. */
  maxConcurrent?: number;
  /** Minimum spacing between command starts, per host. */
  minTimeMs?: number;
}

const SFTP_NO_SUCH_FILE = 2;
const PID_LINE = 'up-session-pid:';
const WRITE_CHUNK = 32 * 1024;
const WRITES_IN_FLIGHT = 16;

export class SshExecutor extends ShellExecutor {
  readonly host: string;
  readonly pool: SshPool;
  private readonly limiter: Bottleneck;
  private readonly lockHolders: Bottleneck;
  private closed = false;

  constructor(spec: HostSpec, options: SshExecutorOptions = {}) {
    super(options);
    this.host = spec.name;
    this.pool = new SshPool(spec, options);
    const maxConcurrent = options.maxConcurrent ?? 8;
    this.limiter = new Bottleneck({ maxConcurrent, minTime: options.minTimeMs ?? 0 });
    // A lock keeps a channel open for as long as it is held or waited for. Were every channel
    // of the pool a lock's, the commands run under those locks would find none and wait for
    // ever: the holders leave the commands' own share of the pool free.
    this.lockHolders = new Bottleneck({ maxConcurrent: Math.max(1, this.pool.capacity - maxConcurrent) });
  }

  toJSON(): Record<string, unknown> {
    return { executor: 'ssh', ...this.pool.toJSON() };
  }

  [inspect.custom](): string {
    return `SshExecutor ${JSON.stringify(this.toJSON())}`;
  }

  protected override schedule<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new TransientExecError(this.host, 'CLOSED', 'executor is closed'));
    return this.limiter.schedule(work);
  }

  protected override capLockHolders<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new TransientExecError(this.host, 'CLOSED', 'executor is closed'));
    return this.lockHolders.schedule(work);
  }

  protected async start(cmd: Command): Promise<StartedProcess> {
    const wrapped = wrapWithPid(cmd);
    assertCommandSize(this.host, wrapped.text);
    const lease = await this.pool.acquire();
    let channel: ClientChannel;
    let exit: ProcessExit | undefined;
    try {
      // The exit status can arrive in the same packet batch as the channel confirmation, before
      // an awaiting caller resumes: listen for it from inside the callback.
      channel = await openExec(lease.client, wrapped, (opened) =>
        opened.once('exit', (code: number | null, signal?: string) => {
          exit = { exitCode: code ?? null, signal: signal ?? null };
        }),
      );
    } catch (error) {
      lease.release();
      throw this.channelError(error);
    }
    const { stderr, pid } = takePidLine(channel.stderr);
    const exited = new Promise<ProcessExit>((resolve, reject) =>
      channel.once('close', () => {
        lease.release();
        if (exit) resolve(exit);
        else reject(new TransientExecError(this.host, 'CONNECTION_LOST', 'connection lost while the command ran'));
      }),
    );
    const kill = () => {
      // sshd refuses channel signals for root sessions (no privsep child), and closing a
      // channel leaves its processes running: kill the session's process group from a
      // second channel instead. It goes beside the pool's accounting: one short channel,
      // and the pool stays below MaxSessions.
      void pid.then((leader) =>
        openExec(lease.client, sh`kill -KILL -- ${-leader}`).then(
          (killer) => killer.resume().stderr.resume(),
          () => undefined,
        ),
      );
      channel.close();
    };
    return { stdin: channel, stdout: channel, stderr, exited, kill };
  }

  protected async writeNewFile(path: string, content: Buffer): Promise<void> {
    await this.withSftp(async (sftp) => {
      const handle = await sftpCall<Buffer>((cb) => sftp.open(path, 'wx', { mode: 0o600 }, cb));
      try {
        await writeAll(sftp, handle, content);
        await sftpCall((cb) => sftp.ext_openssh_fsync(handle, cb));
      } finally {
        await sftpCall((cb) => sftp.close(handle, cb));
      }
    }, `cannot write ${path}`);
  }

  protected readExisting(path: string): Promise<Buffer | null> {
    return this.withSftp(async (sftp) => {
      try {
        return await sftpCall<Buffer>((cb) => sftp.readFile(path, cb));
      } catch (error) {
        if ((error as { code?: unknown }).code === SFTP_NO_SUCH_FILE) return null;
        throw error;
      }
    }, `cannot read ${path}`);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pool.close();
    await this.limiter.stop({ dropWaitingJobs: true }).catch(() => undefined);
    await this.lockHolders.stop({ dropWaitingJobs: true }).catch(() => undefined);
  }

  /** One SFTP session for the duration of `work`; SFTP status errors are permanent, the rest not. */
  private async withSftp<T>(work: (sftp: SFTPWrapper) => Promise<T>, what: string): Promise<T> {
    const lease: Lease = await this.pool.acquire();
    let sftp: SFTPWrapper;
    try {
      sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
        lease.client.sftp((error, session) => (error ? reject(error) : resolve(session))),
      );
    } catch (error) {
      lease.release();
      throw this.channelError(error);
    }
    sftp.once('close', () => lease.release());
    try {
      return await work(sftp);
    } catch (error) {
      if (typeof (error as { code?: unknown }).code === 'number') {
        throw new PermanentError(`${this.host}: ${what}: ${(error as Error).message}`, { cause: error });
      }
      throw new TransientExecError(this.host, 'CONNECTION_LOST', `${what}: ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      sftp.end();
    }
  }

  private channelError(error: unknown): Error {
    if (error instanceof TransientExecError || error instanceof PermanentError) return error;
    return new TransientExecError(this.host, 'CHANNEL_REFUSED', `cannot open a channel: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * Runs cmd under sh whatever the account's login shell is (a command means the same on every
 * host and locally), after reporting the session leader's PID on stderr: the session leader
 * heads the process group that kill() has to take down.
 */
function wrapWithPid(cmd: Command): Command {
  return sh`printf ${`${PID_LINE}%s\n`} "$$" >&2; exec sh -c ${cmd.text}`;
}

/** Strips the PID line off stderr; the returned stream carries the command's own stderr. */
function takePidLine(raw: Readable): { stderr: Readable; pid: Promise<number> } {
  const stderr = new PassThrough();
  let head = '';
  let resolvePid!: (pid: number) => void;
  const pid = new Promise<number>((resolve) => (resolvePid = resolve));
  const onHead = (chunk: Buffer) => {
    head += chunk.toString('latin1');
    const newline = head.indexOf('\n');
    if (newline === -1) return;
    raw.off('data', onHead).off('end', onEarlyEnd);
    const line = head.slice(0, newline);
    const leader = Number(line.slice(PID_LINE.length));
    if (line.startsWith(PID_LINE) && Number.isInteger(leader) && leader > 1) resolvePid(leader);
    const rest = Buffer.from(head.slice(newline + 1), 'latin1');
    if (rest.length) stderr.write(rest);
    raw.pipe(stderr);
  };
  const onEarlyEnd = () => stderr.end(Buffer.from(head, 'latin1'));
  raw.on('data', onHead).once('end', onEarlyEnd);
  return { stderr, pid };
}

function openExec(client: Lease['client'], cmd: Command, onOpen?: (channel: ClientChannel) => void): Promise<ClientChannel> {
  return new Promise<ClientChannel>((resolve, reject) =>
    client.exec(cmd.text, (error, channel) => {
      if (error) return reject(error);
      onOpen?.(channel);
      resolve(channel);
    }),
  );
}

function sftpCall<T = void>(call: (cb: (error: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => call((error, value) => (error ? reject(error) : resolve(value))));
}

/** Keeps several write requests in flight: one at a time costs a round trip per 32 KiB. */
async function writeAll(sftp: SFTPWrapper, handle: Buffer, content: Buffer): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < content.length) {
      const offset = next;
      const length = Math.min(WRITE_CHUNK, content.length - offset);
      next += length;
      await sftpCall((cb) => sftp.write(handle, content, offset, length, offset, cb));
    }
  };
  await Promise.all(Array.from({ length: Math.min(WRITES_IN_FLIGHT, Math.ceil(content.length / WRITE_CHUNK)) }, worker));
}
