/** What every handler acts on a machine through: the same interface over SSH and locally. */
import type { Command } from './command.ts';

import type { Readable, Writable } from 'node:stream';

export type { Command } from './command.ts';
export {
  CommandError,
  TransientExecError,
  HostKeyMismatchError,
  AuthenticationError,
  type CommandOutcome,
  type TransientCode,
} from './errors.ts';

export interface RunOptions {
  /** Written (or, a stream, piped) to the command's stdin, which is then closed. */
  stdin?: string | Buffer | Readable;
  /**
   * Where stdout goes instead of the result (which then has stdout ''): for output too big to
   * hold, such as a database dump. The run settles once the stream has taken all of it.
   */
  stdout?: Writable;
  /** The command is killed after this long (TransientExecError code TIMEOUT). */
  timeoutMs?: number;
  /** Aborting kills the command and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Exit codes that count as success; default [0]. */
  okExitCodes?: readonly number[];
}

export type ScriptOptions = Omit<RunOptions, 'stdin'>;

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface PutFileOptions {
  /** Permission bits, e.g. 0o640; default: the existing file's, else 0o644. */
  mode?: number;
  /** User name or uid; default: the existing file's, else the connecting user. */
  owner?: string;
  /** Group name or gid; default: the existing file's, else the connecting user's group. */
  group?: string;
}

export interface LockOptions {
  /** How long to wait for the lock before giving up with TransientExecError LOCK_BUSY. */
  waitMs?: number;
}

export interface Executor {
  /** The host's name, for messages and metrics. */
  readonly host: string;
  run(cmd: Command, opts?: RunOptions): Promise<ExecResult>;
  /** Sends `set -eu` + the commands on stdin to `sh -s`. */
  runScript(commands: Command | readonly Command[], opts?: ScriptOptions): Promise<ExecResult>;
  /** Writes atomically (temp name + rename); changed=false when content and metadata already match. */
  putFile(path: string, content: string | Buffer, opts?: PutFileOptions): Promise<{ changed: boolean }>;
  /** The file's content, or null when it does not exist. */
  readFile(path: string): Promise<Buffer | null>;
  /** Runs fn while holding the host-wide lock `name` (flock on the target). */
  withLock<T>(name: string, fn: () => Promise<T>, opts?: LockOptions): Promise<T>;
  close(): Promise<void>;
}
