/**
 * nginx on lab hosts (test/lab/nginx.sh): one per namespace, each in its own prefix directory,
 * and `curl --resolve` from the root namespace, as a person checking a site would.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { LabHost } from './lab-hosts.ts';

const run = promisify(execFile);
const NGINX_SH = fileURLToPath(new URL('../lab/nginx.sh', import.meta.url));

export interface LabNginx {
  host: LabHost;
  dir: string;
  pid: number;
  down(): Promise<void>;
}

/** Starts nginx on every host in `<host.dir>/nginx` (the filesystem is shared, so one dir per host). */
export async function labNginx(hosts: LabHost[], port: number, subdir = 'nginx'): Promise<LabNginx[]> {
  return Promise.all(
    hosts.map(async (host) => {
      const dir = `${host.dir}/${subdir}`;
      const { stdout } = await run('sh', [NGINX_SH, 'up', host.namespace, dir, String(port)]);
      return { host, dir, pid: Number(stdout.trim()), down: async () => void (await run('sh', [NGINX_SH, 'down', dir])) };
    }),
  );
}

export interface CurlResult {
  status: number;
  body: string;
}

/** `curl --resolve name:port:address http://name:port<path>`: the request a browser would make once DNS points there. */
export async function curlSite(name: string, address: string, port: number, path = '/', extra: string[] = []): Promise<CurlResult> {
  const { stdout } = await run('curl', [
    '-s',
    '--max-time',
    '5',
    '--resolve',
    `${name}:${port}:${address}`,
    '-o',
    '-',
    '-w',
    '\n%{http_code}',
    ...extra,
    `http://${name}:${port}${path}`,
  ]);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

/** Polls until `check` passes (nginx reloads asynchronously: new workers take a moment). */
export async function eventually<T>(probe: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (check(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
