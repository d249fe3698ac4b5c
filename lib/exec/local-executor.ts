/**
 * The executor for "this machine": the embedded default manages its own box without SSH,
 * through the same commands, files and locks as a remote host.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { open, readFile } from 'node:fs/promises';
import { PermanentError } from '../errors.ts';
import type { Command } from './command.ts';
import { ShellExecutor, type ProcessExit, type ShellExecutorOptions, type StartedProcess } from './shell-executor.ts';

export interface LocalExecutorOptions extends ShellExecutorOptions {
  /** The name this machine goes by in messages; default "local". */
  host?: string;
}

export class LocalExecutor extends ShellExecutor {
  readonly host: string;

  constructor(options: LocalExecutorOptions = {}) {
    super(options);
    this.host = options.host ?? 'local';
  }

  protected async start(cmd: Command): Promise<StartedProcess> {
    // Its own process group, so a kill takes the command's children too.
    const child = spawn('/bin/sh', ['-c', cmd.text], { detached: true, stdio: 'pipe' });
    try {
      await once(child, 'spawn');
    } catch (error) {
      throw new PermanentError(`${this.host}: cannot start /bin/sh`, { cause: error });
    }
    const exited = new Promise<ProcessExit>((resolve) => child.once('close', (exitCode, signal) => resolve({ exitCode, signal })));
    return {
      stdin: child.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
      exited,
      kill: () => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      },
    };
  }

  protected async writeNewFile(path: string, content: Buffer): Promise<void> {
    let file;
    try {
      file = await open(path, 'wx', 0o600);
    } catch (error) {
      throw new PermanentError(`${this.host}: cannot create ${path}: ${(error as Error).message}`, { cause: error });
    }
    try {
      await file.writeFile(content);
      await file.sync();
    } finally {
      await file.close();
    }
  }

  protected async readExisting(path: string): Promise<Buffer | null> {
    try {
      return await readFile(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new PermanentError(`${this.host}: cannot read ${path}: ${(error as Error).message}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    // Nothing is pooled locally; running commands finish on their own.
  }
}
