/**
 * Websites end to end on real nginx: lab proxy hosts (network namespaces with sshd and
 * nginx), the pipeline in-process, and the checks a person would make with curl.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import pino from 'pino';
import websiteApplyHandler from '../../handlers/websites/website.apply/handler.ts';
import { HostConnector } from '../../handlers/runtime/connector.ts';
import { createToken } from '../../gateway/users/token-store.ts';
import { SupersededError } from '../../lib/errors.ts';
import type { HostRef } from '../../queues/host-ref.ts';
import { createUser } from '../../gateway/users/store.ts';
import { labHosts, type Lab } from '../helpers/lab-hosts.ts';
import { curlSite, eventually, labNginx, type LabNginx } from '../helpers/lab-nginx.ts';
import { runUp } from '../helpers/processes.ts';
import { startStack } from '../helpers/stack.ts';
import { isolateSubids, removeUnixUsers } from '../helpers/unix-users.ts';

const run = promisify(execFile);
const PORT = 80;
const WILDCARD = 'p1.web.test';
const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);
const TENANTS = ['webalice', 'webbob', 'webcarol'];

type Stack = Awaited<ReturnType<typeof startStack>>;
type Json = Record<string, any>;

describe('websites on real nginx', { timeout: 240_000 }, () => {
  let lab: Lab;
  let nginx: LabNginx[] = [];
  let stack: Stack;
  let upstream: Server;
  let upstreamPort: number;
  let contentDir: string;
  const tokens: Record<string, string> = {};

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

  async function settle(jobs: Json[], who = 'admin'): Promise<Json[]> {
    return Promise.all(
      jobs.map(async (job) => {
        for (let i = 0; i < 600; i++) {
          const { body } = await api(who)('GET', `/v1/jobs/${job.id}`);
          if (FINAL.has(body.status)) return body;
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`job ${job.id} did not finish`);
      }),
    );
  }

  async function succeeded(response: { status: number; body: Json }, who = 'admin'): Promise<Json> {
    assert.equal(response.status, 202, JSON.stringify(response.body));
    // Certificates are certs.test.ts's subject: this lab has no ACME CA, so their jobs keep retrying.
    const jobs = await settle(
      response.body.jobs.filter((job: Json) => !job.op.startsWith('cert.')),
      who,
    );
    for (const job of jobs) assert.equal(job.status, 'succeeded', `${job.op} on ${job.target}: ${JSON.stringify(job.error)}`);
    if (process.env.WEB_DEBUG)
      for (const job of jobs)
        console.error(
          job.op,
          job.target,
          job.createdAt,
          job.finishedAt,
          JSON.stringify(
            (await api(who)('GET', `/v1/jobs/${job.id}?events=true`)).body.events?.map((e: Json) => [e.status, e.at, e.durationMs]),
          ),
        );
    return response.body;
  }

  const fromEveryHost = (name: string, path = '/', extra: string[] = []) =>
    Promise.all(lab.hosts.map((h) => curlSite(name, h.address, PORT, path, extra)));

  /** Uploads these files as the site's document root (tar.gz through the API), on every member. */
  async function deployFiles(who: string, site: string, files: Record<string, string>): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'up-web-files-'));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    const { stdout } = await run('sh', ['-c', 'tar --format=ustar -czf - -C "$1" . | base64 -w0', 'sh', dir], { maxBuffer: 1 << 24 });
    rmSync(dir, { recursive: true });
    await succeeded(
      await api(who)('POST', `/v1/websites/${site}/content`, Buffer.from(stdout, 'base64'), { 'content-type': 'application/gzip' }),
      who,
    );
  }

  before(async () => {
    await removeUnixUsers(TENANTS);
    lab = await labHosts(2, { prefix: 'up-web', subnet: '10.77.7', bridge: 'uplab7' });
    nginx = await labNginx(lab.hosts, PORT);
    process.env.UP_SSH_KEY_FILE = lab.hosts[0].privateKeyFile;
    contentDir = mkdtempSync(join(tmpdir(), 'up-web-content-'));
    process.env.UP_CONTENT_DIR = contentDir;
    upstream = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({ api: true, url: req.url, host: req.headers.host, tag: (upstream as Server & { tag?: string }).tag ?? 'one' }),
      );
    });
    await new Promise<void>((resolve) => upstream.listen(0, '10.77.7.1', resolve));
    upstreamPort = (upstream.address() as { port: number }).port;

    stack = await startStack();
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
    // up creates their Unix users (tenant.provision) on the members their sites land on.
    await isolateSubids(db, TENANTS);

    await succeeded(
      await admin('POST', '/v1/proxies', {
        name: 'p1',
        wildcardDomain: WILDCARD,
        addresses: ['192.0.2.10', '2001:db8::10'],
        httpPort: PORT,
      }),
    );
    for (const [i, host] of lab.hosts.entries()) {
      await succeeded(await admin('POST', '/v1/proxies/p1/hosts', { host: host.name, baseDir: nginx[i].dir }));
    }
  });

  after(async () => {
    await stack?.shutdown();
    await new Promise((resolve) => upstream?.close(resolve));
    for (const n of nginx) await n.down().catch(() => undefined);
    await lab?.down();
    await removeUnixUsers(TENANTS);
    if (contentDir) rmSync(contentDir, { recursive: true, force: true });
    delete process.env.UP_CONTENT_DIR;
  });

  test('every member converged to the group generation and serves the default 404', async () => {
    const { body } = await admin('GET', '/v1/proxies/p1');
    assert.equal(body.hosts.length, 2);
    for (const host of body.hosts) assert.equal(host.appliedGeneration, body.generation);
    for (const answer of await fromEveryHost('nothing.p1.web.test')) {
      assert.equal(answer.status, 404);
      assert.equal(answer.body, 'no such site\n');
    }
  });

  test('a site answers at its temporary subdomain on every host, /api reaches the upstream, edit reroutes, delete removes', async () => {
    const alice = api('webalice');
    const created = await succeeded(
      await alice('POST', '/v1/websites', { name: 'shop', proxy: 'p1', routes: [{ path: '/api', upstream: `10.77.7.1:${upstreamPort}` }] }),
      'webalice',
    );
    const temp = created.website.tempDomain;
    assert.equal(temp, `shop-webalice.${WILDCARD}`);

    // Content: a directory, uploaded as tar.gz, lands on every host.
    const dir = mkdtempSync(join(tmpdir(), 'up-web-site-'));
    mkdirSync(join(dir, 'css'));
    writeFileSync(join(dir, 'index.html'), '<h1>alice shop</h1>\n');
    writeFileSync(join(dir, 'css', 'site.css'), 'h1 { color: red }\n');
    const { stdout } = await run('sh', ['-c', 'tar --format=ustar -czf - -C "$1" . | base64 -w0', 'sh', dir], { maxBuffer: 1 << 24 });
    rmSync(dir, { recursive: true });
    await succeeded(
      await alice('POST', '/v1/websites/shop/content', Buffer.from(stdout, 'base64'), { 'content-type': 'application/gzip' }),
      'webalice',
    );

    for (const answer of await fromEveryHost(temp)) assert.deepEqual(answer, { status: 200, body: '<h1>alice shop</h1>\n' });
    for (const answer of await fromEveryHost(temp, '/css/site.css')) assert.equal(answer.body, 'h1 { color: red }\n');
    for (const answer of await fromEveryHost(temp, '/api/users?x=1')) {
      assert.equal(answer.status, 200);
      assert.deepEqual(JSON.parse(answer.body), { api: true, url: '/api/users?x=1', host: temp, tag: 'one' });
    }

    // Edit: the API moves to /v2, static stays; every host follows.
    await succeeded(
      await alice('PATCH', '/v1/websites/shop', { routes: [{ path: '/v2', upstream: `10.77.7.1:${upstreamPort}` }] }),
      'webalice',
    );
    for (const answer of await fromEveryHost(temp, '/api/users')) assert.equal(answer.status, 404);
    for (const answer of await fromEveryHost(temp, '/v2/x')) assert.equal(JSON.parse(answer.body).url, '/v2/x');
    const { body: shown } = await alice('GET', '/v1/websites/shop');
    assert.equal(shown.generation, 2);
    assert.deepEqual(
      shown.hosts.map((h: Json) => h.appliedGeneration),
      [2, 2],
    );

    // Another user neither sees nor changes it.
    const bob = api('webbob');
    assert.equal((await bob('GET', '/v1/websites/shop')).status, 404);
    assert.equal((await bob('PATCH', '/v1/websites/shop', { static: false })).status, 404);
    assert.equal((await bob('DELETE', '/v1/websites/shop')).status, 404);
    assert.deepEqual((await bob('GET', '/v1/websites')).body, { items: [] });

    await succeeded(await alice('DELETE', '/v1/websites/shop'), 'webalice');
    for (const answer of await fromEveryHost(temp)) assert.deepEqual(answer, { status: 404, body: 'no such site\n' });
    assert.equal((await alice('GET', '/v1/websites/shop')).status, 404);
  });

  test("the user's path: `up sites create`, `up sites deploy <dir>`, read back through nginx at the temporary subdomain", async () => {
    const env = { UP_URL: stack.url!, UP_TOKEN: tokens.webbob, UP_LOG_LEVEL: 'silent' };
    const created = await runUp(['sites', 'create', 'blog', '--proxy', 'p1', '--wait', '--json'], env);
    assert.equal(created.code, 0, created.stderr + created.stdout);
    const site = JSON.parse(created.stdout).website;
    assert.equal(site.tempDomain, `blog-webbob.${WILDCARD}`);
    const dir = mkdtempSync(join(tmpdir(), 'up-web-cli-'));
    writeFileSync(join(dir, 'index.html'), '<p>bob writes</p>\n');
    const deployed = await runUp(['sites', 'deploy', 'blog', dir, '--json'], env);
    rmSync(dir, { recursive: true });
    assert.equal(deployed.code, 0, deployed.stderr + deployed.stdout);
    for (const answer of await fromEveryHost(site.tempDomain)) assert.deepEqual(answer, { status: 200, body: '<p>bob writes</p>\n' });
    const { stdout } = await run('stat', ['-c', '%U %G %a', `${nginx[1].dir}/www/blog-webbob/index.html`]);
    assert.equal(stdout.trim(), 'up-webbob www-data 640');
    const removed = await runUp(['sites', 'delete', 'blog', '--wait', '--yes'], env);
    assert.equal(removed.code, 0, removed.stderr);
  });

  test('domains: IDN stored as punycode, claimed names are exclusive, wildcard names are reserved', async () => {
    const alice = api('webalice');
    const bob = api('webbob');
    const created = await succeeded(
      await alice('POST', '/v1/websites', { name: 'cafe', proxy: 'p1', domains: ['Café.example', 'www.café.example'] }),
      'webalice',
    );
    assert.deepEqual(created.website.domains, ['xn--caf-dma.example', 'www.xn--caf-dma.example']);
    for (const answer of await fromEveryHost('xn--caf-dma.example')) assert.notEqual(answer.body, 'no such site\n');

    const taken = await bob('POST', '/v1/websites', { name: 'bobcafe', proxy: 'p1', domains: ['www.xn--caf-dma.example'] });
    assert.equal(taken.status, 409, JSON.stringify(taken.body));
    const wildcard = await bob('POST', '/v1/websites', { name: 'sneaky', proxy: 'p1', domains: [`cafe-webalice.${WILDCARD}`] });
    assert.equal(wildcard.status, 409);
    // Names are per owner: bob's own "cafe" is his, and nothing tells him alice has one.
    const bobs = await succeeded(await bob('POST', '/v1/websites', { name: 'cafe', proxy: 'p1' }), 'webbob');
    assert.equal(bobs.website.tempDomain, `cafe-webbob.${WILDCARD}`);
    await succeeded(await alice('DELETE', '/v1/websites/cafe'), 'webalice');
    await succeeded(await bob('DELETE', '/v1/websites/cafe'), 'webbob');
  });

  test("two users' document roots are mutually unreadable on the host", async () => {
    const alice = api('webalice');
    const bob = api('webbob');
    const a = await succeeded(await alice('POST', '/v1/websites', { name: 'asite', proxy: 'p1' }), 'webalice');
    const b = await succeeded(await bob('POST', '/v1/websites', { name: 'bsite', proxy: 'p1' }), 'webbob');
    const rootA = `${nginx[0].dir}/www/${a.website.tempDomain.split('.')[0]}`;
    const rootB = `${nginx[0].dir}/www/${b.website.tempDomain.split('.')[0]}`;
    writeFileSync(`${rootA}/secret.txt`, 'alice only');
    await run('chown', ['up-webalice:www-data', `${rootA}/secret.txt`]);
    await run('chmod', ['0640', `${rootA}/secret.txt`]);
    const { stdout } = await run('stat', ['-c', '%U %G %a', rootA, rootB]);
    assert.deepEqual(stdout.trim().split('\n'), ['up-webalice www-data 2750', 'up-webbob www-data 2750']);
    await assert.rejects(run('runuser', ['-u', 'up-webbob', '--', 'cat', `${rootA}/secret.txt`]), /Permission denied/);
    await assert.rejects(run('runuser', ['-u', 'up-webalice', '--', 'ls', rootB]), /Permission denied/);
    // nginx (www-data) still reads both.
    for (const answer of await fromEveryHost(a.website.tempDomain, '/secret.txt')) assert.ok([200, 404].includes(answer.status));
    assert.equal((await curlSite(a.website.tempDomain, lab.hosts[0].address, PORT, '/secret.txt')).body, 'alice only');
    await succeeded(await alice('DELETE', '/v1/websites/asite'), 'webalice');
    await succeeded(await bob('DELETE', '/v1/websites/bsite'), 'webbob');
  });

  test('basic auth end to end: correct credentials 200, wrong or none 401; a stored apr1 hash keeps working', async () => {
    const alice = api('webalice');
    const created = await succeeded(
      await alice('POST', '/v1/websites', {
        name: 'guarded',
        proxy: 'p1',
        basicAuth: { realm: 'Staging area', users: [{ name: 'ann', password: 'correct horse' }] },
      }),
      'webalice',
    );
    const temp = created.website.tempDomain;
    const key = temp.split('.')[0];
    await deployFiles('webalice', 'guarded', { 'index.html': '<p>behind a password</p>\n' });
    for (const answer of await fromEveryHost(temp, '/', ['-u', 'ann:correct horse']))
      assert.deepEqual(answer, { status: 200, body: '<p>behind a password</p>\n' });
    for (const answer of await fromEveryHost(temp, '/', ['-u', 'ann:wrong horse'])) assert.equal(answer.status, 401);
    for (const answer of await fromEveryHost(temp, '/', ['-u', 'bob:correct horse'])) assert.equal(answer.status, 401);
    for (const answer of await fromEveryHost(temp)) assert.equal(answer.status, 401);
    // What nginx reads: $6$ hashes, readable by root and the workers' group only.
    for (const n of nginx) {
      const { stdout } = await run('stat', ['-c', '%U %G %a', `${n.dir}/auth`, `${n.dir}/auth/${key}.htpasswd`]);
      assert.deepEqual(stdout.trim().split('\n'), ['root www-data 750', 'root www-data 640']);
      assert.match(readFileSync(`${n.dir}/auth/${key}.htpasswd`, 'utf8'), /^ann:\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}\n$/);
    }
    // A site stored before the switch to SHA-512-crypt: its apr1 hash is applied as it is and still opens the door.
    const { stdout: legacy } = await run('openssl', ['passwd', '-apr1', '-salt', 'legacy01', 'old secret']);
    const db = stack.database!.knex;
    const row = await db('websites').where({ id: created.website.id }).first();
    await db('websites')
      .where({ id: row.id })
      .update({
        spec: JSON.stringify({ ...row.spec, basicAuth: { realm: 'Staging area', users: [{ name: 'old', hash: legacy.trim() }] } }),
      });
    await succeeded(await alice('PATCH', '/v1/websites/guarded', { maxBodySize: '2m' }), 'webalice');
    for (const answer of await fromEveryHost(temp, '/', ['-u', 'old:old secret'])) assert.equal(answer.status, 200);
    for (const answer of await fromEveryHost(temp, '/', ['-u', 'old:new secret'])) assert.equal(answer.status, 401);
    await succeeded(await alice('DELETE', '/v1/websites/guarded'), 'webalice');
  });

  test("a tenant's symlink to another tenant's file is refused, while each serves its own files", async () => {
    const alice = api('webalice');
    const bob = api('webbob');
    const a = await succeeded(await alice('POST', '/v1/websites', { name: 'linka', proxy: 'p1' }), 'webalice');
    const b = await succeeded(await bob('POST', '/v1/websites', { name: 'linkb', proxy: 'p1' }), 'webbob');
    await deployFiles('webalice', 'linka', { 'index.html': 'alice home\n', 'secret.html': 'alice secret\n' });
    await deployFiles('webbob', 'linkb', { 'own.html': 'bob own\n' });
    for (const n of nginx) {
      const rootA = `${n.dir}/www/${a.website.tempDomain.split('.')[0]}`;
      const rootB = `${n.dir}/www/${b.website.tempDomain.split('.')[0]}`;
      // bob cannot read alice's file himself; he links to it (and to her whole root) from his own.
      await assert.rejects(run('runuser', ['-u', 'up-webbob', '--', 'cat', `${rootA}/secret.html`]), /Permission denied/);
      await run('runuser', ['-u', 'up-webbob', '--', 'ln', '-s', `${rootA}/secret.html`, `${rootB}/alice.html`]);
      await run('runuser', ['-u', 'up-webbob', '--', 'ln', '-s', rootA, `${rootB}/alice-root`]);
      await run('runuser', ['-u', 'up-webbob', '--', 'ln', '-s', 'own.html', `${rootB}/mine.html`]);
    }
    for (const path of ['/alice.html', '/alice-root/secret.html', '/alice-root/index.html']) {
      for (const answer of await fromEveryHost(b.website.tempDomain, path)) {
        assert.ok([403, 404].includes(answer.status), `${path}: ${answer.status} ${answer.body}`);
        assert.doesNotMatch(answer.body, /alice/);
      }
    }
    for (const answer of await fromEveryHost(b.website.tempDomain, '/mine.html'))
      assert.deepEqual(answer, { status: 200, body: 'bob own\n' });
    for (const answer of await fromEveryHost(a.website.tempDomain, '/secret.html'))
      assert.deepEqual(answer, { status: 200, body: 'alice secret\n' });
    await succeeded(await alice('DELETE', '/v1/websites/linka'), 'webalice');
    await succeeded(await bob('DELETE', '/v1/websites/linkb'), 'webbob');
  });

  test('logs: the directory is 0750 root:www-data and every log file 0640 on each member, old ones tightened', async () => {
    const alice = api('webalice');
    const site = await succeeded(await alice('POST', '/v1/websites', { name: 'logged', proxy: 'p1' }), 'webalice');
    for (const answer of await fromEveryHost(site.website.tempDomain, '/nothing-here')) assert.equal(answer.status, 404);
    // As a layout from before looked: a world-readable directory and files.
    for (const n of nginx) await run('sh', ['-c', 'chmod 0755 "$1" && chmod 0644 "$1"/*.log', 'sh', `${n.dir}/logs`]);
    await succeeded(await alice('PATCH', '/v1/websites/logged', { maxBodySize: '3m' }), 'webalice');
    for (const n of nginx) {
      const { stdout: dir } = await run('stat', ['-c', '%U %G %a', `${n.dir}/logs`]);
      assert.equal(dir.trim(), 'root www-data 750', n.dir);
      const { stdout: files } = await run('sh', ['-c', 'stat -c "%n %a" "$1"/*.log', 'sh', `${n.dir}/logs`]);
      const lines = files.trim().split('\n');
      assert.ok(
        lines.some((line) => line.includes(`${site.website.tempDomain.split('.')[0]}.access.log`)),
        files,
      );
      for (const line of lines) assert.match(line, / 640$/, line);
      await assert.rejects(run('runuser', ['-u', 'up-webbob', '--', 'ls', `${n.dir}/logs`]), /Permission denied/);
    }
    // nginx's workers still write the access log.
    const log = `${nginx[0].dir}/logs/${site.website.tempDomain.split('.')[0]}.access.log`;
    const before = readFileSync(log, 'utf8').length;
    await curlSite(site.website.tempDomain, lab.hosts[0].address, PORT, '/written');
    const after = await eventually(
      async () => readFileSync(log, 'utf8'),
      (text) => text.length > before,
    );
    assert.match(after.slice(before), /GET \/written /);
    await succeeded(await alice('DELETE', '/v1/websites/logged'), 'webalice');
  });

  test("an invalid directive never takes nginx down: the old config keeps serving and the job fails with nginx's error", async () => {
    const alice = api('webalice');
    const site = await succeeded(
      await alice('POST', '/v1/websites', {
        name: 'sturdy',
        proxy: 'p1',
        routes: [{ path: '/api', upstream: `10.77.7.1:${upstreamPort}` }],
      }),
      'webalice',
    );
    const temp = site.website.tempDomain;
    // Tamper: another vhost on host 1 that nginx rejects; the next apply there must fail and roll back.
    const bad = `${nginx[0].dir}/vhosts/zz-tampered.conf`;
    writeFileSync(bad, 'bogus_directive on;\n');
    try {
      const edit = await alice('PATCH', '/v1/websites/sturdy', { routes: [{ path: '/moved', upstream: `10.77.7.1:${upstreamPort}` }] });
      assert.equal(edit.status, 202);
      const jobs = await settle(edit.body.jobs, 'webalice');
      const onFirst = jobs.find((j) => j.target.endsWith(lab.hosts[0].name))!;
      const onSecond = jobs.find((j) => j.target.endsWith(lab.hosts[1].name))!;
      assert.equal(onFirst.status, 'failed');
      assert.match(onFirst.error.message, /unknown directive "bogus_directive"/);
      assert.equal(onSecond.status, 'succeeded');
      // Host 1 still runs generation 1 (the old vhost was restored): /api still answers there.
      const still = await curlSite(temp, lab.hosts[0].address, PORT, '/api/ok');
      assert.equal(JSON.parse(still.body).url, '/api/ok');
      assert.match(readFileSync(`${nginx[0].dir}/vhosts/${temp.split('.')[0]}.conf`, 'utf8'), /generation 1 /);
      // Host 2 moved on.
      assert.equal(JSON.parse((await curlSite(temp, lab.hosts[1].address, PORT, '/moved/x')).body).url, '/moved/x');
    } finally {
      rmSync(bad, { force: true });
    }
    await succeeded(await alice('DELETE', '/v1/websites/sturdy'), 'webalice');
  });

  test('deleting a user who owns sites is refused, and with force removes every site from every host', async () => {
    const carol = api('webcarol');
    const created = await succeeded(await carol('POST', '/v1/websites', { name: 'carolsite', proxy: 'p1' }), 'webcarol');
    const temp = created.website.tempDomain;
    for (const answer of await fromEveryHost(temp)) assert.notEqual(answer.body, 'no such site\n');

    const refused = await admin('DELETE', '/v1/users/webcarol');
    assert.equal(refused.status, 409);
    assert.match(refused.body.message, /1 websites/);

    const forced = await admin('DELETE', '/v1/users/webcarol?force=true');
    assert.equal(forced.status, 202, JSON.stringify(forced.body));
    assert.deepEqual(forced.body.jobs.map((j: Json) => j.op).sort(), ['website.delete', 'website.delete']);
    for (const job of await settle(forced.body.jobs)) assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    for (const answer of await fromEveryHost(temp)) assert.deepEqual(answer, { status: 404, body: 'no such site\n' });
    assert.equal((await admin('GET', '/v1/websites/carolsite')).status, 404);
    // The name is free again for someone else.
    await succeeded(await api('webalice')('POST', '/v1/websites', { name: 'carolsite', proxy: 'p1' }), 'webalice');
    await succeeded(await api('webalice')('DELETE', '/v1/websites/carolsite'), 'webalice');
  });

  test('a stale website.apply ends superseded and never overwrites', async () => {
    const alice = api('webalice');
    const first = await succeeded(await alice('POST', '/v1/websites', { name: 'fresh', proxy: 'p1' }), 'webalice');
    await succeeded(await alice('PATCH', '/v1/websites/fresh', { maxBodySize: '1m' }), 'webalice');
    // Deliver the generation-1 message again (at-least-once): the hosts hold generation 2.
    const { body: oldJob } = await admin('GET', `/v1/jobs/${first.jobs[0].id}`);
    const connector = new HostConnector(lab.hosts[0].privateKeyFile);
    try {
      const ctx = {
        signal: new AbortController().signal,
        log: pino({ level: 'silent' }),
        job: { id: oldJob.id, attempt: 2, tenant: null, actor: 'test', target: null },
        connect: (h: HostRef) => connector.connect(h),
      };
      await assert.rejects(
        websiteApplyHandler.run(oldJob.payload, ctx),
        (error: Error) => error instanceof SupersededError && /generation 2/.test(error.message),
      );
    } finally {
      await connector.close();
    }
    const vhost = readFileSync(`${nginx[0].dir}/vhosts/${first.website.tempDomain.split('.')[0]}.conf`, 'utf8');
    assert.match(vhost, /generation 2 /);
    assert.match(vhost, /client_max_body_size 1m;/);
    await succeeded(await alice('DELETE', '/v1/websites/fresh'), 'webalice');
  });
});
