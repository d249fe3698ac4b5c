import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError, EXIT_CONFIG } from './errors.ts';

/** One stored login: a gateway and the token for it (`up login --context <name>`). */
export interface Context {
  url: string;
  token: string;
  /** Who the token belonged to when it was stored, for `up context list`. */
  user?: string;
  role?: string;
}

export interface ConfigFile {
  /** The context commands use unless `--context` names another. */
  current: string | null;
  contexts: Record<string, Context>;
}

export const CONTEXT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const DEFAULT_CONTEXT = 'default';

/** $XDG_CONFIG_HOME/up/config.json (mode 0600 in a 0700 directory). */
export const configFile = (env: Record<string, string | undefined> = process.env) =>
  join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'up', 'config.json');

export function checkContextName(name: string): string {
  if (!CONTEXT_NAME.test(name))
    throw new CliError(`context name ${JSON.stringify(name)}: letters, digits, dot, dash and underscore, at most 64`);
  return name;
}

const isContext = (c: unknown): c is Context =>
  typeof c === 'object' && c !== null && typeof (c as Context).url === 'string' && typeof (c as Context).token === 'string';

/**
 * The stored logins; none when there is no file. The file of earlier versions, one
 * `{url, token}`, reads as the context `default`. A file that exists but cannot be read is an
 * error, never an empty configuration (which would fall back to another token).
 */
export function readConfig(file = configFile()): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { current: null, contexts: {} };
    throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, EXIT_CONFIG);
  }
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    throw new CliError(`${file} is not JSON: fix it, or delete it and run \`up login\` again`, EXIT_CONFIG);
  }
  if (isContext(stored)) return { current: DEFAULT_CONTEXT, contexts: { [DEFAULT_CONTEXT]: { url: stored.url, token: stored.token } } };
  const { current, contexts } = (stored ?? {}) as Partial<ConfigFile>;
  const valid = Object.fromEntries(Object.entries(contexts ?? {}).filter(([name, c]) => CONTEXT_NAME.test(name) && isContext(c)));
  return { current: typeof current === 'string' && valid[current] ? current : null, contexts: valid };
}

/** Written to a temp name with mode 0600 first, so the tokens are never readable by others, even briefly. */
export function writeConfig(config: ConfigFile, file = configFile()): string {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, file);
  return file;
}
