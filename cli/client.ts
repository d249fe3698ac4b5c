import { loadClientConfig } from '../lib/config.ts';
import { readStoredAdminToken } from '../lib/admin-token.ts';

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

  static fromEnvironment(): UpClient {
    const config = loadClientConfig();
    // On the machine that runs `up serve`, the stored admin token works without set-up.
    return new UpClient(config.url, config.token ?? readStoredAdminToken(config.dataDir));
  }

  async request<T>(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<ApiResponse<T>> {
    if (!this.token) throw new CliError('no token: set UP_TOKEN (or run on the machine where `up serve` stored its admin token)');
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
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
      throw new CliError(`cannot reach the gateway at ${this.url} (${cause}): is \`up serve\` running, and is UP_URL right?`);
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
