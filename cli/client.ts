import type { IncomingHttpHeaders } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import { isAbsolute, join } from 'node:path';
import { homedir } from 'node:os';
import { readStoredAdminToken } from '../lib/admin-token.ts';
import { readConfig, type ConfigFile } from './contexts.ts';
import { CliError, EXIT_CONFIG } from './errors.ts';
import { HttpUnreachable, send, type HttpResponse } from './http.ts';

export { CliError } from './errors.ts';

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: IncomingHttpHeaders;
}

type Env = Record<string, string | undefined>;

/** The global options every client command takes; set once per run. */
const session: { as?: string; context?: string } = {};

export function useClientOptions(options: { as?: string; context?: string }): void {
  Object.assign(session, options);
}

/** Where requests go and with which token, and where that came from (for `up whoami`). */
export interface Target {
  url: string;
  token: string | null;
  /** `UP_TOKEN`, `context <name>`, or `the stored admin token`. */
  source: string;
  context: string | null;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Decides the gateway and the token, each from one place, never silently from another:
 * `--context <name>` when given; else UP_URL and UP_TOKEN (set but empty is an error, not a
 * fallback), else the current context of `up login`, else, for a gateway on this machine,
 * the admin token `up serve` stored. A token goes only to the gateway it was stored for.
 */
export function resolveTarget(env: Env, config: ConfigFile, options: { context?: string } = {}): Target {
  if (options.context !== undefined) {
    const context = config.contexts[options.context];
    if (!context) throw new CliError(`no context named ${JSON.stringify(options.context)} (see \`up context list\`)`, EXIT_CONFIG);
    return { url: context.url, token: context.token, source: `context ${options.context}`, context: options.context };
  }
  const fromEnv = (name: 'UP_URL' | 'UP_TOKEN') => {
    const value = env[name];
    if (value === undefined) return undefined;
    if (!value.trim()) throw new CliError(`${name} is set but empty: unset it to use your stored login, or give it a value`, EXIT_CONFIG);
    return value.trim();
  };
  const envUrl = fromEnv('UP_URL');
  const envToken = fromEnv('UP_TOKEN');
  const current = config.current ? config.contexts[config.current] : undefined;
  const url = normalizeUrl(
    envUrl ?? current?.url ?? `http://127.0.0.1:${env.UP_HTTP_PORT?.trim() || 8470}`,
    envUrl !== undefined ? 'UP_URL' : 'the stored URL',
  );
  if (envToken !== undefined) return { url, token: envToken, source: 'UP_TOKEN', context: null };
  if (current && normalizeUrl(current.url, 'the stored URL') === url)
    return { url, token: current.token, source: `context ${config.current}`, context: config.current };
  // On the machine that runs `up serve`, its admin token works without set-up, for that gateway only.
  const local = LOOPBACK.has(new URL(url).hostname) ? readStoredAdminToken(dataDir(env)) : null;
  return { url, token: local, source: local ? 'the stored admin token' : 'none', context: null };
}

export function normalizeUrl(value: string, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new CliError(`${what} is not a URL: ${JSON.stringify(value)}`, EXIT_CONFIG);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new CliError(`${what} must start with http:// or https://`, EXIT_CONFIG);
  return value.replace(/\/+$/, '');
}

/** The server's data directory, where `up serve` keeps its admin token. */
function dataDir(env: Env): string {
  const value = env.UP_DATA_DIR?.trim();
  if (value) {
    if (!isAbsolute(value)) throw new CliError('UP_DATA_DIR must be an absolute path', EXIT_CONFIG);
    return value;
  }
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'up');
}

/** A small client of the gateway's HTTP API (what the generated SDKs do, by hand). */
export class UpClient {
  constructor(
    readonly url: string,
    private readonly token: string | null,
    /** Admins: the user every request runs as (`X-Up-As`). */
    readonly as?: string,
  ) {}

  static fromEnvironment(): UpClient {
    const target = resolveTarget(process.env, readConfig(), { context: session.context });
    return new UpClient(target.url, target.token, session.as);
  }

  async request<T>(
    method: string,
    path: string,
    options: {
      body?: unknown;
      headers?: Record<string, string>;
      timeoutMs?: number;
      /** Sent as it is, piped (with its own content-type in `headers`): an upload. */
      stream?: Readable;
      /** Where a 2xx body goes (a download); `body` of the answer is then null. */
      sink?: Writable;
    } = {},
  ): Promise<ApiResponse<T>> {
    if (!this.token) throw new CliError(`no token for ${this.url}: run \`up login\`, or set UP_TOKEN`);
    // What the gateway accepts after `Bearer`; anything else could not even be sent as a header.
    if (!/^[\x21-\x7e]{1,512}$/.test(this.token))
      throw new CliError(
        'the token holds characters no token has (spaces, control characters, non-ASCII): check UP_TOKEN, --token or `up context show`',
        EXIT_CONFIG,
      );
    let response: HttpResponse;
    try {
      response = await send(new URL(`${this.url}${path}`), {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(this.as !== undefined ? { 'x-up-as': this.as } : {}),
          ...options.headers,
        },
        body: options.stream ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
        sink: options.sink,
        timeoutMs: options.timeoutMs ?? 30_000,
      });
    } catch (error) {
      if (!(error instanceof HttpUnreachable)) throw error;
      throw new CliError(`cannot reach the gateway at ${this.url} (${error.code}): is \`up serve\` running, and is UP_URL right?`);
    }
    const text = response.text;
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    if (response.status < 200 || response.status > 299) {
      const message = (body as { message?: string })?.message ?? text.slice(0, 200);
      throw new CliError(`${response.status} ${message}`);
    }
    return { status: response.status, body: body as T, headers: response.headers };
  }

  /**
   * Every item of a list, page after page: each list answers `{ items, next? }`, and `next`
   * goes back as `after` until the last page (500 a page, which every list allows).
   */
  async listAll<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    const [base, search] = path.split('?');
    const query = new URLSearchParams(search);
    if (!query.has('limit')) query.set('limit', '500');
    for (;;) {
      const { body } = await this.request<Page<T>>('GET', `${base}?${query}`);
      items.push(...body.items);
      if (body.next === undefined) return items;
      query.set('after', body.next);
    }
  }
}

/** What every list answers. */
export interface Page<T> {
  items: T[];
  /** present when more items follow: pass it back as `after` */
  next?: string;
}
