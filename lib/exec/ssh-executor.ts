/**
 * The executor for a remote host: commands as exec channels, files over SFTP, all through
 * one connection pool and one rate limiter per host.
 */
import Bottleneck from 'bottleneck';
import type { ClientChannel, SFTPWrapper } from 'ssh2';
import { PermanentError } from '../../queues/errors.ts';
import { sh, type Command } from './command.ts';
import { TransientExecError } from './errors.ts';
import { SshPool, type HostSpec, type Lease, type PoolOptions } from './ssh-pool.ts';
import { ShellExecutor, type ProcessExit, type ShellExecutorOptions, type StartedProcess } from './shell-executor.ts';

export interface SshExecutorOptions extends PoolOptions, ShellExecutorOptions {
  /** Commands in flight per host in this process. */
  maxConcurrent?: number;
  /** Minimum spacing between command starts, per host. */
  minTimeMs?: number;
}

const SFTP_NO_SUCH_FILE = 2;
const WRITE_CHUNK = 32 * 1024;
const WRITES_IN_FLIGHT = 16;

export class SshExecutor extends ShellExecutor {
  readonly host: string;
  readonly pool: SshPool;
  private readonly limiter: Bottleneck;

  constructor(spec: HostSpec, options: SshExecutorOptions = {}) {
    super(options);
    this.host = spec.name;
    this.pool = new SshPool(spec, options);
    this.limiter = new Bottleneck({ maxConcurrent: options.maxConcurrent ?? 8, minTime: options.minTimeMs ?? 0 });
  }

  protected override schedule<T>(work: () => Promise<T>): Promise<T> {
    return this.limiter.schedule(work);
  }

  protected async start(cmd: Command): Promise<StartedProcess> {
    const lease = await this.pool.acquire();
    let channel: ClientChannel;
    try {
      // Run under sh whatever the account's login shell is, so a command means the same
      // on every host (and locally).
      channel = await new Promise<ClientChannel>((resolve, reject) =>
        lease.client.exec(sh`exec sh -c ${cmd.text}`.text, (error, stream) => (error ? reject(error) : resolve(stream))),
      );
    } catch (error) {
      lease.release();
      throw this.channelError(error);
    }
    let exit: ProcessExit | undefined;
    channel.on('exit', (code: number | null, signal?: string) => {
      exit = { exitCode: code ?? null, signal: signal ?? null };
    });
    const exited = new Promise<ProcessExit>((resolve, reject) =>
      channel.once('close', () => {
        lease.release();
        if (exit) resolve(exit);
        else reject(new TransientExecError(this.host, 'CONNECTION_LOST', 'connection lost while the command ran'));
      }),
    );
    return {
      stdin: channel,
      stdout: channel,
      stderr: channel.stderr,
      exited,
      kill: () => {
        try {
          channel.signal('KILL'); // sshd delivers it to the session's process group
        } catch {
          // channel already gone
        }
        channel.close();
      },
    };
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

  async readFile(path: string): Promise<Buffer | null> {
    return this.schedule(() =>
      this.withSftp(async (sftp) => {
        try {
          return await sftpCall<Buffer>((cb) => sftp.readFile(path, cb));
        } catch (error) {
          if ((error as { code?: unknown }).code === SFTP_NO_SUCH_FILE) return null;
          throw error;
        }
      }, `cannot read ${path}`),
    );
  }

  async close(): Promise<void> {
    await this.pool.close();
    await this.limiter.stop({ dropWaitingJobs: true }).catch(() => undefined);
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
