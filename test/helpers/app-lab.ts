/**
 * A lab for apps and container routes: one lab host that is both a proxy member (real nginx)
 * and a containers host (real podman, prepared by `up hosts prepare`), the pipeline in-process,
 * a proxy group `p1` on it, and tenants with tokens. `api(who)` calls the gateway as a tenant
 * (or 'admin'); `succeeded` waits for a change's jobs.
 */
import assert from 'node:assert/strict';
import { labHosts, registerLabHost, type Lab, type LabHost } from './lab-hosts.ts';
import { labNginx, type LabNginx } from './lab-nginx.ts';
import { BUSYBOX_IMAGE, importBusybox, onHost, PODMAN_PRIVATE_DIRS, removeContainers } from './podman-lab.ts';
import { startStack } from './stack.ts';
import { isolateSubids, removeUnixUsers } from './unix-users.ts';
import { tenantsWithTokens } from './tenants.ts';
import { stackApi, type Api, type Json } from './stack-api.ts';

export type { Api, Json } from './stack-api.ts';
type Stack = Awaited<ReturnType<typeof startStack>>;

const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);

export interface AppLab {
  lab: Lab;
  host: LabHost;
  nginx: LabNginx[];
  stack: Stack;
  tokens: Record<string, string>;
  port: number;
  wildcard: string;
  api(who: string): Api;
  settled(job: Json, who?: string): Promise<Json>;
  /** 202, and every job (but certificates': this lab has no ACME CA) succeeded. */
  succeeded(response: { status: number; body: Json }, who?: string): Promise<Json>;
  /** What the CLI needs to act as a tenant. */
  env(who: string): Record<string, string>;
  /** A busybox web server image built on the host, answering `text` on port 8080 (or, `broken`, exiting at once). */
  webImage(tag: string, text: string, broken?: boolean): Promise<string>;
  /** Polls the app until its deploy ends; returns the app. */
  deployed(who: string, name: string, timeoutMs?: number): Promise<Json>;
  down(): Promise<void>;
}

export async function appLab(options: {
  prefix: string;
  subnet: string;
  bridge: string;
  tenants: string[];
  wildcard: string;
  /** The stack's environment, e.g. a short health interval. */
  env?: Record<string, string>;
}): Promise<AppLab> {
  const port = 80;
  const tokens: Record<string, string> = {};
  await removeUnixUsers(options.tenants);
  const lab = await labHosts(1, {
    prefix: options.prefix,
    subnet: options.subnet,
    bridge: options.bridge,
    privateDirs: PODMAN_PRIVATE_DIRS,
  });
  const [host] = lab.hosts;
  let nginx: LabNginx[] = [];
  let stack: Stack | undefined;
  const down = async () => {
    await stack?.shutdown();
    for (const n of nginx) await n.down().catch(() => undefined);
    await removeContainers(host).catch(() => undefined);
    await lab.down();
    await removeUnixUsers(options.tenants);
  };
  try {
    nginx = await labNginx(lab.hosts, port);
    process.env.UP_SSH_KEY_FILE = host.privateKeyFile;
    stack = await startStack({ env: options.env });
    const started = stack;
    const { api, settled, succeeded: changed } = stackApi(() => started, tokens);
    const succeeded = (response: { status: number; body: Json }, who = 'admin') => changed(response, who, true);

    const db = stack.database!.knex;
    await registerLabHost(db, host, ['proxy', 'containers']);
    Object.assign(tokens, await tenantsWithTokens(db, options.tenants));
    await isolateSubids(db, options.tenants);

    const admin = api('admin');
    const prepared = await admin('POST', `/v1/hosts/${host.name}/prepare`);
    assert.equal((await settled(prepared.body)).status, 'succeeded');
    for (let i = 0; ; i++) {
      const job = (await admin('GET', '/v1/jobs?op=container.host.setup')).body.items[0];
      if (job && FINAL.has(job.status)) {
        assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
        break;
      }
      assert.ok(i < 240, 'container.host.setup did not finish');
      await new Promise((r) => setTimeout(r, 250));
    }
    await importBusybox(host);
    await succeeded(
      await admin('POST', '/v1/proxies', { name: 'p1', wildcardDomain: options.wildcard, addresses: ['192.0.2.80'], httpPort: port }),
    );
    await succeeded(await admin('POST', '/v1/proxies/p1/hosts', { host: host.name, baseDir: nginx[0].dir }));
    return {
      lab,
      host,
      nginx,
      stack,
      tokens,
      port,
      wildcard: options.wildcard,
      api,
      settled,
      succeeded,
      env: (who) => ({ UP_URL: started.url!, UP_TOKEN: tokens[who], UP_LOG_LEVEL: 'silent' }),
      async webImage(tag, text, broken = false) {
        const image = `localhost/web:${tag}`;
        const cmd = broken ? '["sh", "-c", "echo cannot start >&2; exit 3"]' : '["httpd", "-f", "-p", "8080", "-h", "/www"]';
        await onHost(
          host,
          `d=$(mktemp -d) && printf '%s\\n' 'FROM ${BUSYBOX_IMAGE}' 'RUN mkdir -p /www && echo ${text} > /www/index.html' 'CMD ${cmd}' > $d/Containerfile && podman build --pull=never -q -t ${image} $d >/dev/null && rm -rf $d`,
          120_000,
        );
        return image;
      },
      async deployed(who, name, timeoutMs = 180_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const { body } = await api(who)('GET', `/v1/apps/${name}`);
          if (['succeeded', 'failed'].includes(body.deploy?.state)) return body;
          assert.ok(Date.now() < deadline, `the deploy of ${name} did not end: ${JSON.stringify(body.deploy)}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      },
      down,
    };
  } catch (error) {
    await down();
    throw error;
  }
}
