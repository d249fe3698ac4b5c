import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadClientConfig } from '../lib/config.ts';
import { readStoredAdminToken } from '../lib/admin-token.ts';

/** Where `up login` keeps the URL and token: $XDG_CONFIG_HOME/up/config.json (mode 0600). */
export const loginFile = (env: Record<string, string | undefined> = process.env) =>
  join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'up', 'config.json');

export interface StoredLogin {
  url: string;
  token: string;
}

export function readLogin(): StoredLogin | null {
  try {
    const stored = JSON.parse(readFileSync(loginFile(), 'utf8')) as Partial<StoredLogin>;
    return typeof stored.url === 'string' && typeof stored.token === 'string' ? { url: stored.url, token: stored.token } : null;
  } catch {
    return null;
  }
}

/** Written to a temp name with mode 0600 first, so the token is never readable by others, even briefly. */
export function writeLogin(login: StoredLogin): string {
  const file = loginFile();
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, file);
  return file;
}

/** A failure the user should read: printed without a stack, exit code 1. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** A small client of the gateway's HTTP API (what the generated SDKs do, by hand). */
export class UpClient {
  constructor(
    readonly url: string,
    private readonly token: string | null,
  ) {}

  /** UP_URL/UP_TOKEN first, then what `up login` stored, then (locally) the stored admin token. */
  static fromEnvironment(): UpClient {
    const config = loadClientConfig();
    const login = readLogin();
    const url = process.env.UP_URL?.trim() ? config.url : (login?.url ?? config.url);
    // On the machine that runs `up serve`, the stored admin token works without set-up.
    return new UpClient(url, config.token ?? login?.token ?? readStoredAdminToken(config.dataDir));
  }

  async request<T>(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<ApiResponse<T>> {
    if (!this.token) throw new CliError('no token: run `up login`, or set UP_TOKEN (or run on the machine where `up serve` stored its admin token)');
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; errors?: { code?: string }[] } }).cause;
      const code = cause?.code ?? cause?.errors?.[0]?.code ?? (cause as Error | undefined)?.message ?? (error as Error).name;
      throw new CliError(`cannot reach the gateway at ${this.url} (${code}): is \`up serve\` running, and is UP_URL right?`);
    }
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    if (!response.ok) {
      const message = (body as { message?: string })?.message ?? text.slice(0, 200);
      throw new CliError(`${response.status} ${message}`);
    }
    return { status: response.status, body: body as T, headers: response.headers };
  }
}
