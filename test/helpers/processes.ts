import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const UP = fileURLToPath(new URL('../../bin/up.js', import.meta.url));
/** Extra node flags for every spawned role, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the bench. */
const NODE_ARGS = (process.env.UP_NODE_ARGS ?? '').split(' ').filter(Boolean);

export interface UpProcess {
  child: ChildProcess;
  /** Everything it printed so far (pino JSON lines and stderr). */
  output(): string;
  /** Resolves when a line matching `pattern` has been printed. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs `up <args>` as its own process, as an operator would. */
export function spawnUp(args: string[], env: Record<string, string>): UpProcess {
  const child = spawn(process.execPath, [...NODE_ARGS, UP, ...args], {
    env: { ...process.env, UP_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const waiters = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    text += chunk.toString();
    waiters.forEach((w) => w());
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => text,
    waitFor(pattern, timeoutMs = 90_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(text)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`up ${args.join(' ')} did not print ${pattern} within ${timeoutMs} ms; it printed:\n${text.slice(-3000)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Runs `up <args>` to completion, as a user at a shell would. */
export function runUp(
  args: string[],
  env: Record<string, string>,
  /** What the command reads on stdin (a pipe, not a terminal); none: stdin is closed. */
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [UP, ...args], {
      env: { ...process.env, ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c) => (stdout += c));
    child.stderr!.on('data', (c) => (stderr += c));
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
