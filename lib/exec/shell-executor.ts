/**
 * Everything both executors do the same way, on top of one primitive each supplies: start a
 * command under `sh -c` with piped stdin/stdout/stderr. Running, scripts, atomic file
 * installation and host-wide locks are built here once.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { finished } from 'node:stream/promises';
import { Readable, type Writable } from 'node:stream';
import { PermanentError } from '../errors.ts';
import { script, sh, type Command } from './command.ts';
import { CommandError, TransientExecError } from './errors.ts';
import * as files from './put-file.ts';
import type { ExecResult, Executor, LockOptions, PutFileOptions, RunOptions, ScriptOptions } from './types.ts';

export interface ProcessExit {
  exitCode: number | null;
  signal: string | null;
}

export interface StartedProcess {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Settles when the process is gone; rejects with TransientExecError when the transport broke. */
  readonly exited: Promise<ProcessExit>;
  /** Kills the process with its children and frees the transport. */
  kill(): void;
}

export interface ShellExecutorOptions {
  /** Default for RunOptions.timeoutMs. */
  commandTimeoutMs?: number;
  /** Where withLock's lock files live on the host. */
  lockDir?: string;
  /** Default for LockOptions.waitMs. */
  lockWaitMs?: number;
}

const LOCK_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Linux refuses any single argv string over 128 KiB (MAX_ARG_STRLEN), and `sh -c` takes one. */
const MAX_COMMAND_BYTES = 128 * 1024 - 1;

export function assertCommandSize(host: string, text: string): void {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_COMMAND_BYTES) {
    throw new PermanentError(
      `${host}: a ${bytes}-byte command exceeds the 128 KiB argv limit; send data on stdin, by runScript or putFile`,
    );
  }
}
const LOCK_BUSY_EXIT = 75; // EX_TEMPFAIL, so flock's timeout is told apart from its other failures
/** The executors whose lock the current async context holds (a lock taken inside another's fn). */
const holding = new AsyncLocalStorage<ReadonlySet<ShellExecutor>>();

export abstract class ShellExecutor implements Executor {
  abstract readonly host: string;
  protected readonly commandTimeoutMs: number;
  protected readonly lockDir: string;
  protected readonly lockWaitMs: number;

  constructor(options: ShellExecutorOptions = {}) {
    this.commandTimeoutMs = options.commandTimeoutMs ?? 300_000;
    this.lockDir = options.lockDir ?? '/var/lock/up';
    this.lockWaitMs = options.lockWaitMs ?? 60_000;
    files.assertAbsolutePath(this.lockDir);
  }

  /** Starts `cmd` under POSIX sh with all three standard streams piped. */
  protected abstract start(cmd: Command): Promise<StartedProcess>;
  /** Creates `path` (which must not exist) with mode 0600 and `content`, flushed to disk. */
  protected abstract writeNewFile(path: string, content: Buffer): Promise<void>;
  /** The content of `path` (already validated), or null when it does not exist. */
  protected abstract readExisting(path: string): Promise<Buffer | null>;
  abstract close(): Promise<void>;

  /** Where a subclass rate-limits; runs immediately by default. */
  protected schedule<T>(work: () => Promise<T>): Promise<T> {
    return work();
  }

  /** Where a subclass caps the locks held (or waited for) at once; runs immediately by default. */
  protected capLockHolders<T>(work: () => Promise<T>): Promise<T> {
    return work();
  }

  run(cmd: Command, opts: RunOptions = {}): Promise<ExecResult> {
    return this.schedule(() => this.execute(cmd, opts));
  }

  runScript(commands: Command | readonly Command[], opts: ScriptOptions = {}): Promise<ExecResult> {
    const body = isCommandList(commands) ? script(...commands) : commands;
    const text = body.text.startsWith('set -eu\n') ? body.text : script(body).text;
    return this.run(sh`sh -s`, { ...opts, stdin: text });
  }

  readFile(path: string): Promise<Buffer | null> {
    files.assertAbsolutePath(path);
    return this.schedule(() => this.readExisting(path));
  }

  async putFile(path: string, content: string | Buffer, opts: PutFileOptions = {}): Promise<{ changed: boolean }> {
    files.assertAbsolutePath(path);
    files.assertPutFileOptions(opts);
    const data = typeof content === 'string' ? Buffer.from(content) : content;
    const state = files.parseFileState((await this.run(files.inspectFileCommand(path))).stdout);
    if (state && files.contentMatches(state, data)) {
      if (files.metadataMatches(state, opts)) return { changed: false };
      await this.run(files.fixMetadataCommand(path, opts));
      return { changed: true };
    }
    const temp = files.tempPathFor(path);
    try {
      await this.schedule(() => this.writeNewFile(temp, data));
      await this.run(files.installTempCommand(temp, path, opts, state !== null));
    } catch (error) {
      await this.run(files.removeTempCommand(temp)).catch(() => undefined);
      throw error;
    }
    return { changed: true };
  }

  withLock<T>(name: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
    if (!LOCK_NAME.test(name)) return Promise.reject(new PermanentError(`invalid lock name: ${JSON.stringify(name)}`));
    const outer = holding.getStore() ?? new Set<ShellExecutor>();
    const locked = () => this.holdLock(name, () => holding.run(new Set([...outer, this]), fn), opts);
    // A lock taken while holding one of ours is not capped: its holder would wait for a slot
    // that only the outer lock, waiting on it, can give back.
    return outer.has(this) ? locked() : this.capLockHolders(locked);
  }

  private async holdLock<T>(name: string, fn: () => Promise<T>, opts: LockOptions): Promise<T> {
    const waitMs = opts.waitMs ?? this.lockWaitMs;
    const file = `${this.lockDir}/${name}.lock`;
    // The lock lives as long as this process reads its stdin: closing stdin (or losing the
    // connection) ends `read`, the shell exits, and flock lets go. Not rate-limited: a
    // limiter slot held while fn runs would starve fn's own commands.
    const holder = await this.start(
      sh`mkdir -p ${this.lockDir} && exec flock -E ${LOCK_BUSY_EXIT} -w ${waitMs / 1000} ${file} sh -c 'echo locked; read _ || :'`,
    );
    await this.awaitLocked(holder, name, waitMs);

    let releasing = false;
    let lost = false;
    const over = holder.exited.then(
      () => void (lost = !releasing),
      () => void (lost = !releasing),
    );
    let result: T;
    try {
      result = await fn();
    } finally {
      releasing = true;
      holder.stdin.end();
      const stuck = setTimeout(() => holder.kill(), 10_000);
      await over;
      clearTimeout(stuck);
    }
    if (lost) throw new TransientExecError(this.host, 'LOCK_LOST', `lock ${name} was lost while held`);
    return result;
  }

  private async awaitLocked(holder: StartedProcess, name: string, waitMs: number): Promise<void> {
    let stdout = '';
    let stderr = '';
    holder.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    holder.stdin.on('error', () => undefined);
    const locked = new Promise<'locked'>((resolve) =>
      holder.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('locked\n')) resolve('locked');
      }),
    );
    // flock's own -w should end the wait; this catches a host that stops answering meanwhile.
    let stalled = false;
    const guard = setTimeout(() => {
      stalled = true;
      holder.kill();
    }, waitMs + 15_000);
    try {
      const outcome = await Promise.race([locked, holder.exited]);
      if (outcome === 'locked') return;
      if (stalled) throw new TransientExecError(this.host, 'TIMEOUT', `taking lock ${name} stalled`);
      if (outcome.exitCode === LOCK_BUSY_EXIT) {
        throw new TransientExecError(this.host, 'LOCK_BUSY', `lock ${name} still busy after ${waitMs} ms`);
      }
      throw new CommandError({ host: this.host, ...outcome, stdout, stderr }, `taking lock ${name}`);
    } finally {
      clearTimeout(guard);
    }
  }

  private async execute(cmd: Command, opts: RunOptions): Promise<ExecResult> {
    const { signal, okExitCodes = [0] } = opts;
    const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
    signal?.throwIfAborted();
    assertCommandSize(this.host, cmd.text);
    const startedAt = performance.now();
    const proc = await this.start(cmd);
    proc.exited.catch(() => undefined); // it may lose the race below
    const stdoutChunks: Buffer[] = [];
    const stderrChunks: Buffer[] = [];
    // Piped output is complete when the destination has taken it all (backpressure included).
    const piped = opts.stdout ? finished(proc.stdout.pipe(opts.stdout)) : null;
    piped?.catch(() => undefined);
    if (!opts.stdout) proc.stdout.on('data', (chunk: Buffer) => stdoutChunks.push(chunk));
    proc.stderr.on('data', (chunk: Buffer) => stderrChunks.push(chunk));
    proc.stdin.on('error', () => undefined); // a command may exit without reading its stdin
    if (opts.stdin instanceof Readable) {
      opts.stdin.on('error', () => proc.kill());
      opts.stdin.pipe(proc.stdin);
    } else proc.stdin.end(opts.stdin);

    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const interrupted = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        proc.kill();
        reject(
          new TransientExecError(this.host, 'TIMEOUT', `command killed after ${timeoutMs} ms`, {
            stderr: Buffer.concat(stderrChunks).toString(),
          }),
        );
      }, timeoutMs);
      onAbort = () => {
        proc.kill();
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    let exit: ProcessExit;
    try {
      exit = await Promise.race([proc.exited, interrupted]);
      if (piped) await Promise.race([piped, interrupted]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }

    const result = {
      exitCode: exit.exitCode,
      signal: exit.signal,
      stdout: Buffer.concat(stdoutChunks).toString(),
      stderr: Buffer.concat(stderrChunks).toString(),
    };
    if (result.exitCode !== null && okExitCodes.includes(result.exitCode)) {
      const { exitCode, stdout, stderr } = result;
      return { exitCode, stdout, stderr, durationMs: performance.now() - startedAt };
    }
    if (result.exitCode === 255) {
      throw new TransientExecError(this.host, 'EXIT_255', 'command exited 255', result);
    }
    throw new CommandError({ host: this.host, ...result });
  }
}

function isCommandList(commands: Command | readonly Command[]): commands is readonly Command[] {
  return Array.isArray(commands);
}
