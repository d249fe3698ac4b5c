import { Agent, request } from 'node:http';
import type { FastifyInstance } from 'fastify';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Requests sent over a real socket with the request target exactly as given: `app.inject`
 * (and fetch) parse the URL first and so resolve `/./`, drop `#…` and rewrite absolute
 * forms, which is what a hostile client or a careless proxy does not do.
 */
export async function rawClient(app: FastifyInstance, options: { localAddress?: string } = {}) {
  const listening = app.server.listening ? app.server.address() : null;
  const port = listening && typeof listening === 'object' ? listening.port : new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port;
  // Another loopback address as the source tells this client's requests apart (audit `ip`).
  const agent = new Agent({ keepAlive: true, maxSockets: 8, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
  const send = (method: string, target: string, headers: Record<string, string> = {}, body?: unknown) =>
    new Promise<RawAnswer>((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method,
          path: target,
          agent,
          headers: {
            ...headers,
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  return { send, close: () => agent.destroy() };
}

/** Runs `task` over `items`, `width` at a time. */
export async function inBatches<T>(items: readonly T[], width: number, task: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(task));
}

const hex = (char: string, lower: boolean) => {
  const code = char.charCodeAt(0).toString(16).padStart(2, '0');
  return `%${lower ? code.toLowerCase() : code.toUpperCase()}`;
};
const encodeAll = (segment: string, lower = false) => [...segment].map((c) => hex(c, lower)).join('');

/**
 * Other spellings of `path` (`/v1/users/alice`) that a router, a proxy or a normaliser may
 * take for the same resource: each segment percent-encoded wholly and in part (upper- and
 * lower-case hex, double encoded), encoded and doubled slashes, dot segments plain and
 * encoded, a trailing slash, `;` parameters, a fragment, an absolute-form target, a
 * backslash, a NUL, another case.
 */
export function pathSpellings(path: string): string[] {
  const segments = path.split('/').slice(1);
  const join = (parts: string[]) => `/${parts.join('/')}`;
  const out = new Set<string>();
  segments.forEach((segment, i) => {
    const at = (replacement: string) => join(segments.with(i, replacement));
    const before = segments
      .slice(0, i)
      .map((s) => `/${s}`)
      .join('');
    const rest = join(segments.slice(i));
    out.add(at(encodeAll(segment)));
    out.add(at(encodeAll(segment, true)));
    out.add(at(hex(segment[0], false) + segment.slice(1)));
    out.add(at(segment.slice(0, -1) + hex(segment.at(-1)!, true)));
    out.add(at([...segment].map((c) => `%25${hex(c, false).slice(1)}`).join('')));
    out.add(at(`${segment};p=1`));
    out.add(`${before}/.${rest}`);
    out.add(`${before}/%2E${rest}`);
    out.add(`${before}/x/..${rest}`);
    out.add(`${before}/x/%2e%2e${rest}`);
    out.add(`${before}/${rest}`);
    if (i > 0) {
      out.add(`${before}%2F${rest.slice(1)}`);
      out.add(`${before}%2f${rest.slice(1)}`);
      out.add(`${before}\\${rest.slice(1)}`);
    }
  });
  out.add(`/${encodeAll('v1')}${path.slice(3)}`);
  out.add(`/v%31${path.slice(3)}`);
  out.add(
    `/${encodeAll('v1')}%2F${segments
      .slice(1)
      .map((s) => encodeAll(s))
      .join('%2F')}`,
  );
  out.add(`/V1${path.slice(3)}`);
  out.add(`${path}/`);
  out.add(`${path}//`);
  out.add(`${path}/.`);
  out.add(`${path}/%2e`);
  out.add(`${path}%2F`);
  out.add(`${path};jsessionid=1`);
  out.add(`${path}%00`);
  out.add(`${path}%3B`);
  out.add(`${path}#frag`);
  out.add(`http://localhost${path}`);
  out.delete(path);
  return [...out];
}
