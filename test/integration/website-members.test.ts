/**
 * What a tenant's site is on its members, end to end on real nginx: its files belong to the
 * tenant's Unix user (created by up, not by the test), other tenants cannot read them, a
 * member that joins later (or comes back) serves every site with its content, and health
 * deploys the content again on a member that lost it. A new site shows a placeholder page.
 *
 * The second host gets no bootstrap nginx.conf from test/lab/nginx.sh: up's proxy.apply writes
 * it and starts nginx there, as on a real host. Namespaces share /etc/passwd with this machine,
 * so the tenants' Unix users are removed in `before` and `after`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { labHosts, type Lab, type LabHost } from '../helpers/lab-hosts.ts';
import { curlSite, eventually, labNginx, type LabNginx } from '../helpers/lab-nginx.ts';
import { startStack } from '../helpers/stack.ts';
import { isolateSubids, removeUnixUsers } from '../helpers/unix-users.ts';

const run = promisify(execFile);
const NGINX_SH = fileURLToPath(new URL('../lab/nginx.sh', import.meta.url));
const PORT = 80;
const WILDCARD = 'pm.members.test';
const TENANTS = ['wmema', 'wmemb'];
const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);

type Stack = Awaited<ReturnType<typeof startStack>>;
type Json = Record<string, any>;

/** Runs a command in the lab host's namespace: its exit code and output. */
async function onHost(host: LabHost, ...argv: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('ip', ['netns', 'exec', host.namespace, ...argv]);
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('websites on their members: owners, late members, lost content', { timeout: 300_000 }, () => {
  let lab: Lab;
  let bootstrapped: LabNginx[] = [];
  let stack: Stack;
  let contentDir: string;
  /** Member base directories: the first host's from nginx.sh, the second's made by up alone. */
  const baseDirs: string[] = [];
  const tokens: Record<string, string> = {};
  const temp: Record<string, string> = {};

  const api =
    (who: string) =>
    async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(`${stack.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${who === 'admin' ? stack.adminToken : tokens[who]}`,
          ...(body !== undefined && !Buffer.isBuffer(body) ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
    };
  const admin = api('admin');

  async function settle(jobs: Json[]): Promise<Json[]> {
    return Promise.all(
      jobs.map(async (job) => {
        for (;;) {
          const { body } = await admin('GET', `/v1/jobs/${job.id}?waitMs=20000`);
          if (FINAL.has(body.status)) return body;
        }
      }),
    );
  }

  /** Every job of the change succeeded (those that waited for a Unix user or nginx.conf retried first). */
  async function succeeded(response: { status: number; body: Json }): Promise<Json[]> {
    assert.equal(response.status, 202, JSON.stringify(response.body));
    const jobs = await settle(response.body.jobs);
    for (const job of jobs) assert.equal(job.status, 'succeeded', `${job.op} on ${job.target}: ${JSON.stringify(job.error)}`);
    return jobs;
  }

  async function deploy(who: string, site: string, files: Record<string, string>): Promise<Json[]> {
    const dir = mkdtempSync(join(tmpdir(), 'up-wmem-files-'));
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), content);
    }
    const { stdout } = await run('sh', ['-c', 'tar --format=ustar -czf - -C "$1" . | base64 -w0', 'sh', dir], { maxBuffer: 1 << 24 });
    rmSync(dir, { recursive: true });
    const answer = await api(who)('POST', `/v1/websites/${site}/content`, Buffer.from(stdout, 'base64'), {
      'content-type': 'application/gzip',
    });
    return succeeded(answer);
  }

  const docRoot = (member: number, site: string) => `${baseDirs[member]}/www/${temp[site].split('.')[0]}`;
  const page = (member: number, site: string, path = '/') =>
    eventually(
      () => curlSite(temp[site], lab.hosts[member].address, PORT, path),
      (r) => r.status === 200,
    );

  before(async () => {
    await removeUnixUsers(TENANTS);
    lab = await labHosts(2, { prefix: 'up-wmem', subnet: '10.77.32', bridge: 'uplab32' });
    bootstrapped = await labNginx([lab.hosts[0]], PORT);
    baseDirs.push(bootstrapped[0].dir, `${lab.hosts[1].dir}/nginx-by-up`);
    rmSync(baseDirs[1], { recursive: true, force: true });
    process.env.UP_SSH_KEY_FILE = lab.hosts[0].privateKeyFile;
    contentDir = mkdtempSync(join(tmpdir(), 'up-wmem-content-'));
    process.env.UP_CONTENT_DIR = contentDir;
    stack = await startStack({ env: { UP_HEALTH_INTERVAL_MS: '1500' } });
    const db = stack.database!.knex;
    for (const host of lab.hosts) {
      await db('hosts').insert({
        id: crypto.randomUUID(),
        name: host.name,
        address: host.address,
        port: host.port,
        ssh_user: host.user,
        host_key_sha256: host.hostKeySha256,
        roles: ['proxy'],
      });
    }
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
    await succeeded(
      await admin('POST', '/v1/proxies', { name: 'pm', wildcardDomain: WILDCARD, addresses: ['192.0.2.30'], httpPort: PORT }),
    );
    await succeeded(await admin('POST', '/v1/proxies/pm/hosts', { host: lab.hosts[0].name, baseDir: baseDirs[0] }));
  });

  after(async () => {
    await stack?.shutdown();
    for (const n of bootstrapped) await n.down().catch(() => undefined);
    if (baseDirs[1]) await run('sh', [NGINX_SH, 'down', baseDirs[1]]).catch(() => undefined);
    await lab?.down();
    await removeUnixUsers(TENANTS);
    if (contentDir) rmSync(contentDir, { recursive: true, force: true });
    delete process.env.UP_CONTENT_DIR;
    delete process.env.UP_SSH_KEY_FILE;
  });

  test('a new site provisions its owner on the member first and shows a placeholder page, not 403', async () => {
    for (const [tenant, site] of [
      ['wmema', 'shop'],
      ['wmemb', 'blog'],
    ]) {
      const created = await api(tenant)('POST', '/v1/websites', { name: site, proxy: 'pm' });
      temp[site] = created.body.website?.tempDomain;
      const jobs = await succeeded(created);
      assert.deepEqual(
        jobs.map((j) => `${j.op} ${j.target}`),
        [`tenant.provision ${lab.hosts[0].name}`, `website.apply website/${site}@${lab.hosts[0].name}`],
      );
      assert.equal(jobs[0].result.user, `up-${tenant}`);
      assert.deepEqual((await admin('GET', `/v1/users/${tenant}`)).body.hosts, [lab.hosts[0].name]);
    }
    const placeholder = await page(0, 'shop');
    assert.match(placeholder.body, /no content yet/);
    // Only / gets the placeholder; the page itself is not reachable by its name.
    assert.equal((await curlSite(temp.shop, lab.hosts[0].address, PORT, '/.up-placeholder.html')).status, 404);
  });

  test("deployed files are the tenant's (files 0640, directories 2750, nginx's group); another tenant cannot read them", async () => {
    const jobs = await deploy('wmema', 'shop', { 'index.html': '<h1>shop of a</h1>\n', 'css/a.css': 'h1 { color: red }\n' });
    assert.deepEqual(
      jobs.map((j) => j.op),
      ['website.deploy'],
      'the owner is there already: no second tenant.provision',
    );
    await deploy('wmemb', 'blog', { 'index.html': '<p>blog of b</p>\n' });
    assert.equal((await page(0, 'shop')).body, '<h1>shop of a</h1>\n');
    assert.equal((await page(0, 'shop', '/css/a.css')).body, 'h1 { color: red }\n');

    const root = docRoot(0, 'shop');
    const modes = await onHost(lab.hosts[0], 'stat', '-c', '%U %G %a', root, `${root}/index.html`, `${root}/css`, `${root}/css/a.css`);
    assert.deepEqual(modes.out.trim().split('\n'), [
      'up-wmema www-data 2750',
      'up-wmema www-data 640',
      'up-wmema www-data 2750',
      'up-wmema www-data 640',
    ]);
    const own = await onHost(lab.hosts[0], 'runuser', '-u', 'up-wmema', '--', 'cat', `${root}/index.html`);
    assert.equal(own.out, '<h1>shop of a</h1>\n');
    for (const argv of [
      ['cat', `${root}/index.html`],
      ['ls', root],
    ]) {
      const other = await onHost(lab.hosts[0], 'runuser', '-u', 'up-wmemb', '--', ...argv);
      assert.notEqual(other.code, 0, `${argv.join(' ')} as up-wmemb: ${other.out}`);
      assert.match(other.out, /Permission denied/);
    }
  });

  test('a member that joins later, with no nginx.conf of its own, gets the owners, every vhost and every content', async () => {
    const h2 = lab.hosts[1].name;
    const jobs = await succeeded(await admin('POST', '/v1/proxies/pm/hosts', { host: h2, baseDir: baseDirs[1] }));
    for (const expected of [
      `tenant.provision ${h2}`,
      `website.apply website/shop@${h2}`,
      `website.deploy website/shop@${h2}`,
      `website.deploy website/blog@${h2}`,
    ])
      assert.ok(
        jobs.some((j) => `${j.op} ${j.target}` === expected),
        `${expected} in ${jobs.map((j) => `${j.op} ${j.target}`)}`,
      );
    assert.equal((await page(1, 'shop')).body, '<h1>shop of a</h1>\n');
    assert.equal((await page(1, 'shop', '/css/a.css')).body, 'h1 { color: red }\n');
    assert.equal((await page(1, 'blog')).body, '<p>blog of b</p>\n');
    const modes = await onHost(lab.hosts[1], 'stat', '-c', '%U %G %a', `${docRoot(1, 'blog')}/index.html`);
    assert.equal(modes.out.trim(), 'up-wmemb www-data 640');
    for (const tenant of TENANTS)
      assert.deepEqual((await admin('GET', `/v1/users/${tenant}`)).body.hosts, lab.hosts.map((h) => h.name).sort());
  });

  test('removed and added again, the member serves the content again', async () => {
    const h2 = lab.hosts[1].name;
    await succeeded(await admin('DELETE', `/v1/proxies/pm/hosts/${h2}`));
    assert.equal((await onHost(lab.hosts[1], 'test', '-e', docRoot(1, 'shop'))).code, 1, 'the document root left with the member');
    const jobs = await succeeded(await admin('POST', '/v1/proxies/pm/hosts', { host: h2, baseDir: baseDirs[1] }));
    assert.ok(!jobs.some((j) => j.op === 'tenant.provision'), 'the owners are on the host already');
    assert.equal((await page(1, 'shop')).body, '<h1>shop of a</h1>\n');
    assert.equal((await page(1, 'blog')).body, '<p>blog of b</p>\n');
  });

  test('a member that lost a site’s content is found out by health and gets it deployed again', async () => {
    const root = docRoot(1, 'shop');
    assert.equal((await onHost(lab.hosts[1], 'find', root, '-mindepth', '1', '-delete')).code, 0);
    const emptied = await curlSite(temp.shop, lab.hosts[1].address, PORT);
    assert.notEqual(emptied.body, '<h1>shop of a</h1>\n');
    const back = await eventually(
      () => curlSite(temp.shop, lab.hosts[1].address, PORT),
      (r) => r.status === 200 && r.body === '<h1>shop of a</h1>\n',
      60_000,
    );
    assert.equal(back.body, '<h1>shop of a</h1>\n', 'the content came back');
    const { body: health } = await admin('GET', '/v1/health?type=website&history=true');
    const entry = health.items.find((h: Json) => h.resource.key === `${temp.shop.split('.')[0]}@${lab.hosts[1].name}`);
    assert.ok(entry, JSON.stringify(health.items.map((h: Json) => h.resource)));
    assert.ok(
      entry.history.some((h: Json) => /health\.repair\.website/.test(h.note ?? '') && /content/.test(h.note ?? '')),
      JSON.stringify(entry.history),
    );
    const modes = await onHost(lab.hosts[1], 'stat', '-c', '%U %G %a', `${root}/index.html`);
    assert.equal(modes.out.trim(), 'up-wmema www-data 640');
  });
});
