/**
 * Website routes that name containers, end to end: one lab host that is both a proxy member
 * (real nginx) and a containers host (real podman), two tenants, the pipeline in-process. A
 * tenant's busybox web server answers through nginx on the site's name at the port `up`
 * allocated on the proxy's own address (allowed for exactly that published port); another
 * tenant cannot name it; deleting it is refused while a site routes to it, and when it is
 * forced and the container comes back on another port, nginx follows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { labHosts, type Lab, type LabHost } from '../helpers/lab-hosts.ts';
import { curlSite, eventually, labNginx, type LabNginx } from '../helpers/lab-nginx.ts';
import { BUSYBOX_IMAGE, importBusybox, onHost, PODMAN_PRIVATE_DIRS, removeContainers } from '../helpers/podman-lab.ts';
import { runUp } from '../helpers/processes.ts';
import { startStack } from '../helpers/stack.ts';
import { isolateSubids, removeUnixUsers } from '../helpers/unix-users.ts';

const PORT = 80;
const WILDCARD = 'p1.app.test';
const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);
const TENANTS = ['appalice', 'appbob'];
type Json = Record<string, any>;
type Stack = Awaited<ReturnType<typeof startStack>>;

/** A busybox web server answering `text` on port 8080. */
const webServer = (text: string) => ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 8080 -h /www`];

describe('website routes to containers, on real nginx and podman', { timeout: 300_000 }, () => {
  let lab: Lab;
  let host: LabHost;
  let nginx: LabNginx[] = [];
  let stack: Stack;
  const tokens: Record<string, string> = {};

  const api =
    (who: string) =>
    async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> => {
      const res = await fetch(`${stack.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${who === 'admin' ? stack.adminToken : tokens[who]}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    };
  const admin = api('admin');
  const alice = api('appalice');
  const bob = api('appbob');

  async function settled(job: Json, who = 'admin'): Promise<Json> {
    for (let i = 0; i < 1200; i++) {
      const { body } = await api(who)('GET', `/v1/jobs/${job.id}`);
      if (FINAL.has(body.status)) return body;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${job.id} (${job.op}) did not finish`);
  }

  /** 202, and every job (but certificates': this lab has no ACME CA) succeeded. */
  async function succeeded(response: { status: number; body: Json }, who = 'admin'): Promise<Json> {
    assert.equal(response.status, 202, JSON.stringify(response.body));
    const jobs = (response.body.jobs ?? [response.body]).filter((job: Json) => !job.op.startsWith('cert.'));
    for (const job of jobs) {
      const done = await settled(job, who);
      assert.equal(done.status, 'succeeded', `${done.op} on ${done.target}: ${JSON.stringify(done.error)}`);
    }
    return response.body;
  }

  const site = (path = '/') => curlSite(`shop-appalice.${WILDCARD}`, host.address, PORT, path);
  /** nginx reloads after website.apply, and re-renders after a container job are follow-ups: poll. */
  const answers = (text: string, timeoutMs = 30_000) => eventually(site, (r) => r.status === 200 && r.body.trim() === text, timeoutMs);

  before(async () => {
    await removeUnixUsers(TENANTS);
    lab = await labHosts(1, { prefix: 'up-app', subnet: '10.77.80', bridge: 'uplab80', privateDirs: PODMAN_PRIVATE_DIRS });
    [host] = lab.hosts;
    nginx = await labNginx(lab.hosts, PORT);
    process.env.UP_SSH_KEY_FILE = host.privateKeyFile;
    stack = await startStack();
    const db = stack.database!.knex;
    await db('hosts').insert({
      id: crypto.randomUUID(),
      name: host.name,
      address: host.address,
      port: host.port,
      ssh_user: host.user,
      host_key_sha256: host.hostKeySha256,
      roles: ['proxy', 'containers'],
    });
    for (const name of TENANTS) {
      const user = (await createUser(db, { name, role: 'user' }))!;
      tokens[name] = (
        await createToken(db, {
          userId: user.id,
          name: 'test',
          scopes: ['read', 'write'],
          allowFrom: [],
          ratePerMinute: null,
          expiresAt: null,
        })
      ).secret;
    }
    await isolateSubids(db, TENANTS);

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
      await admin('POST', '/v1/proxies', { name: 'p1', wildcardDomain: WILDCARD, addresses: ['192.0.2.80'], httpPort: PORT }),
    );
    await succeeded(await admin('POST', '/v1/proxies/p1/hosts', { host: host.name, baseDir: nginx[0].dir }));
  });

  after(async () => {
    await stack?.shutdown();
    for (const n of nginx) await n.down().catch(() => undefined);
    if (host) await removeContainers(host);
    await lab?.down();
    await removeUnixUsers(TENANTS);
  });

  let firstPort = 0;

  test("a route naming the tenant's container answers through nginx, at the port up published on the proxy's own address", async () => {
    const created = await succeeded(
      await alice('POST', '/v1/containers', { name: 'web', image: BUSYBOX_IMAGE, command: webServer('v1'), ports: [{ container: 8080 }] }),
      'appalice',
    );
    firstPort = created.container.ports[0].host;
    const made = await succeeded(
      await alice('POST', '/v1/websites', {
        name: 'shop',
        proxy: 'p1',
        static: false,
        routes: [{ path: '/', upstream: { container: 'web', port: 8080 } }],
      }),
      'appalice',
    );
    assert.deepEqual(made.website.routes, [{ path: '/', upstream: { container: 'web', port: 8080 }, websocket: false }]);
    const answer = await answers('v1');
    assert.equal(answer.body.trim(), 'v1', JSON.stringify(answer));
    // nginx got an upstream block over the published endpoint; the owner's route names only the container.
    const vhost = await onHost(host, `cat ${nginx[0].dir}/vhosts/shop-appalice.conf`);
    assert.match(vhost, new RegExp(`upstream up_shop_appalice_0 \\{\\n    server ${host.address.replace(/\./g, '\\.')}:${firstPort};`));
    // The CLI says routes the same way.
    const env = { UP_URL: stack.url!, UP_TOKEN: tokens.appalice, UP_LOG_LEVEL: 'silent' };
    const edited = await runUp(['websites', 'edit', 'shop', '--route', '/=container:web:8080'], env);
    assert.equal(edited.code, 0, edited.stderr + edited.stdout);
    const shown = await runUp(['websites', 'show', 'shop'], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /routes\s+\/ → container web:8080/);
    // The same endpoint written as ip:port is the proxy itself: still refused.
    const fixed = await alice('PATCH', '/v1/websites/shop', { routes: [{ path: '/', upstream: `${host.address}:${firstPort}` }] });
    assert.equal(fixed.status, 400, JSON.stringify(fixed.body));
    assert.match(fixed.body.message, /proxy hosts themselves/);
  });

  test('another tenant naming it is refused exactly as a name nobody has; a port it does not publish and hostile input too', async () => {
    const named = async (who: typeof bob, upstream: unknown) =>
      who('POST', '/v1/websites', { name: 'steal', proxy: 'p1', routes: [{ path: '/', upstream }] });
    const theirs = await named(bob, { container: 'web', port: 8080 });
    const nobodys = await named(bob, { container: 'nosuch', port: 8080 });
    assert.equal(theirs.status, 422, JSON.stringify(theirs.body));
    assert.equal(nobodys.status, 422);
    assert.match(theirs.body.message, /^body\/routes\/0\/upstream /);
    // Not a word more about another tenant's container than about none.
    assert.equal(theirs.body.message.replace('web', 'X'), nobodys.body.message.replace('nosuch', 'X'));
    // Nor by writing its published endpoint as an address.
    const direct = await named(bob, `${host.address}:${firstPort}`);
    assert.equal(direct.status, 400, JSON.stringify(direct.body));
    const unpublished = await named(alice, { container: 'web', port: 9090 });
    assert.equal(unpublished.status, 422);
    assert.match(unpublished.body.message, /body\/routes\/0\/upstream names port 9090 of web, which it does not publish/);
    for (const hostile of [
      { container: '../web', port: 8080 },
      { container: 'web; reboot', port: 8080 },
      { container: 'web', port: 0 },
      { container: 'web', port: 8080, address: '127.0.0.1' },
      { container: 'web' },
    ]) {
      const res = await named(alice, hostile);
      assert.equal(res.status, 400, `${JSON.stringify(hostile)}: ${JSON.stringify(res.body)}`);
    }
    assert.equal((await bob('GET', '/v1/websites')).body.items.length, 0);
    assert.equal((await alice('GET', '/v1/websites')).body.items.length, 1);
  });

  test('deleting a routed container is refused unless forced; recreated on another port, nginx follows', async () => {
    const refused = await alice('DELETE', '/v1/containers/web');
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.match(refused.body.message, /shop route to web/);

    // An edit that stops publishing the routed port is refused the same way.
    const unpublish = await alice('PATCH', '/v1/containers/web', { ports: [{ container: 9090 }] });
    assert.equal(unpublish.status, 409, JSON.stringify(unpublish.body));
    assert.match(unpublish.body.message, /shop \/ → port 8080/);

    const env = { UP_URL: stack.url!, UP_TOKEN: tokens.appalice, UP_LOG_LEVEL: 'silent' };
    const forced = await runUp(['containers', 'delete', 'web', '--yes', '--force', '--wait'], env);
    assert.equal(forced.code, 0, forced.stderr + forced.stdout);
    const gone = await eventually(site, (r) => r.status === 502, 30_000);
    assert.equal(gone.status, 502);

    // Another container takes the freed port, so `web` comes back on a different one.
    const filler = await succeeded(
      await alice('POST', '/v1/containers', {
        name: 'filler',
        image: BUSYBOX_IMAGE,
        command: webServer('filler'),
        ports: [{ container: 8080 }],
      }),
      'appalice',
    );
    assert.equal(filler.container.ports[0].host, firstPort);
    const back = await succeeded(
      await alice('POST', '/v1/containers', { name: 'web', image: BUSYBOX_IMAGE, command: webServer('v2'), ports: [{ container: 8080 }] }),
      'appalice',
    );
    assert.notEqual(back.container.ports[0].host, firstPort);
    const answer = await answers('v2');
    assert.equal(answer.body.trim(), 'v2', JSON.stringify(answer));
    assert.match(await onHost(host, `cat ${nginx[0].dir}/vhosts/shop-appalice.conf`), new RegExp(`:${back.container.ports[0].host};`));
  });
});
