import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { quote } from 'shell-quote';
import { buildCli } from '../../scripts/build-cli.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The client bundle as `npm run build:cli` makes it, in a directory of its own (inside the
 * repository, so that role commands still find tsx and the server sources), and a way to run
 * it as a user would: its own config and data directories, no UP_* variables but those given.
 */
export async function testCli(): Promise<{
  bundle: string;
  home: string;
  run(args: string[], options?: { env?: Record<string, string | undefined>; input?: string; timeoutMs?: number }): Promise<CliRun>;
  onTerminal(
    args: string[],
    options: { env?: Record<string, string | undefined>; prompt: RegExp; answer: string },
  ): Promise<{ code: number; output: string }>;
  cleanup(): void;
}> {
  mkdirSync(join(ROOT, 'node_modules/.cache'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, 'node_modules/.cache/up-cli-'));
  const { file: bundle } = await buildCli(join(dir, 'cli'));
  const home = join(dir, 'home');
  mkdirSync(home);
  const baseEnv = () => {
    const env: Record<string, string | undefined> = {
      ...process.env,
      XDG_CONFIG_HOME: join(home, 'config'),
      UP_DATA_DIR: join(home, 'data'),
      HOME: home,
    };
    for (const key of Object.keys(env)) if (key.startsWith('UP_') && key !== 'UP_DATA_DIR') delete env[key];
    return env;
  };
  const envOf = (extra: Record<string, string | undefined> = {}) => {
    const env = { ...baseEnv(), ...extra };
    for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
    return env as Record<string, string>;
  };
  return {
    bundle,
    home,
    run(args, options = {}) {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [bundle, ...args], { env: envOf(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
        child.stdout.on('data', (c) => (stdout += c));
        child.stderr.on('data', (c) => (stderr += c));
        child.on('error', reject);
        // 'close', not 'exit': only then has all of stdout and stderr been read.
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
        });
        child.stdin.end(options.input ?? '');
      });
    },
    onTerminal(args, options) {
      // util-linux `script` gives the command a pseudo-terminal; `answer` is typed once `prompt` shows.
      return new Promise((resolve) => {
        const child = spawn('script', ['-qec', quote([process.execPath, bundle, ...args]), '/dev/null'], { env: envOf(options.env) });
        let output = '';
        let answered = false;
        child.stdout.on('data', (chunk) => {
          output += chunk;
          if (!answered && options.prompt.test(output)) {
            answered = true;
            child.stdin.write(options.answer);
          }
        });
        child.on('close', (code) => resolve({ code: code ?? -1, output }));
      });
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** What a user must never see: a line of a JavaScript stack trace. */
export const STACK_FRAME = /^\s+at .+(\(|:\d+)/m;
