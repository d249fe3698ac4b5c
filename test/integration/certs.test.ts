/**
 * Certificates end to end: pebble (the ACME test CA) in the root namespace, a lab BIND that
 * resolves the test names for it, two proxy hosts with nginx and certbot, the pipeline
 * in-process; the checks are the ones a person makes with curl and openssl.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { labAcme, type LabAcme } from '../helpers/acme.ts';
import type { LabBind } from '../helpers/bind.ts';
import { labHosts, type Lab } from '../helpers/lab-hosts.ts';
import { curlSite, labNginx, type LabNginx } from '../helpers/lab-nginx.ts';
import type { LabPebble } from '../helpers/pebble.ts';
import { runUp } from '../helpers/processes.ts';
import { startStack } from '../helpers/stack.ts';
import { isolateSubids, removeUnixUsers } from '../helpers/unix-users.ts';

const run = promisify(execFile);
const BRIDGE = '10.77.9.1';
const WILDCARD = 'p1.example.test';
const SITES_ZONE = 'sites.test';
const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);
/** Their Unix users are up's to create (tenant.provision with their sites), the test's to remove. */
const TENANTS = ['certalice', 'certbob'];

type Stack = Awaited<ReturnType<typeof startStack>>;
type Json = Record<string, any>;

describe('certificates with certbot, pebble, BIND and nginx', { timeout: 300_000 }, () => {
  let lab: Lab;
  let nginx: LabNginx[] = [];
  let bind: LabBind;
  let pebble: LabPebble;
  let stack: Stack;
  let acme: LabAcme;
  const tokens: Record<string, string> = {};
  const saved = { ...process.env };

  const api = (who: string) => async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${stack.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${who === 'admin' ? stack.adminToken : tokens[who]}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
  };
  const admin = api('admin');
  const db = () => stack.database!.knex;

  async function settle(jobs: Json[]): Promise<Json[]> {
    return Promise.all(
      jobs.map(async (job) => {
        for (let i = 0; i < 1200; i++) {
          const { body } = await admin('GET', `/v1/jobs/${job.id}`);
          if (FINAL.has(body.status)) return body;
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`job ${job.id} (${job.op}) did not finish`);
      }),
    );
  }

  async function succeeded(response: { status: number; body: Json }): Promise<Json> {
    assert.equal(response.status, 202, JSON.stringify(response.body));
    for (const job of await settle(response.body.jobs))
      assert.equal(job.status, 'succeeded', `${job.op} on ${job.target}: ${JSON.stringify(job.error)}`);
    return response.body;
  }

  async function until<T>(probe: () => Promise<T>, check: (value: T) => boolean, what: string, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (check(value)) return value;
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The site has converged: every member applied its latest generation. */
  const converged = (who: string, site: string, check: (w: Json) => boolean = () => true) =>
    until(
      async () => (await api(who)('GET', `/v1/websites/${site}`)).body,
      (w) => check(w) && w.hosts.length === 2 && w.hosts.every((h: Json) => h.appliedGeneration === w.generation),
      `website ${site} to converge`,
    );

  /** `curl --cacert <pebble root> --resolve name:443:address https://name/` — verification included. */
  async function https(name: string, address: string, path = '/'): Promise<{ status: number; body: string }> {
    const { stdout } = await run('curl', [
      '-sS',
      '--max-time',
      '5',
      '--cacert',
      pebble.root,
      '--resolve',
      `${name}:443:${address}`,
      '-o',
      '-',
      '-w',
      '\n%{http_code}',
      `https://${name}${path}`,
    ]);
    const cut = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
  }

  /** What openssl sees on the wire: the served certificate's serial and end date. */
  async function served(name: string, address: string): Promise<{ serial: string; notAfter: string }> {
    const { stdout } = await run('sh', [
      '-c',
      'openssl s_client -connect "$1:443" -servername "$2" </dev/null 2>/dev/null | openssl x509 -noout -serial -enddate',
      'sh',
      address,
      name,
    ]);
    const serial = /serial=([0-9A-F]+)/i.exec(stdout)![1];
    const end = /notAfter=(.+)/.exec(stdout)![1];
    return { serial: normalSerial(serial), notAfter: new Date(end).toISOString() };
  }
  const normalSerial = (s: string) => s.toLowerCase().replace(/^0+/, '');

  async function certificateOf(who: string, predicate: (c: Json) => boolean): Promise<Json> {
    const body = (await api(who)('GET', '/v1/certificates')).body.items;
    const found = body.find(predicate);
    assert.ok(found, `no such certificate in ${JSON.stringify(body)}`);
    return found;
  }

  async function uploadContent(who: string, site: string, html: string): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'up-cert-site-'));
    writeFileSync(join(dir, 'index.html'), html);
    const { stdout } = await run('sh', ['-c', 'tar --format=ustar -czf - -C "$1" . | base64 -w0', 'sh', dir]);
    rmSync(dir, { recursive: true });
    await succeeded(await api(who)('POST', `/v1/websites/${site}/content`, { archive: stdout }));
  }

  before(async () => {
    await removeUnixUsers(TENANTS);
    lab = await labHosts(2, { prefix: 'up-cert', subnet: '10.77.9', bridge: 'uplab9' });
    nginx = await labNginx(lab.hosts, 80);
    acme = await labAcme(BRIDGE);
    ({ bind, pebble } = acme);
    // A zone up does not host: its names are proven by HTTP-01. shop → the second member (not the
    // issuer), so the challenge has to travel to the issuer; bad → the bridge, where no web server listens.
    await acme.addZone(SITES_ZONE, [`shop IN A ${lab.hosts[1].address}`, `bad IN A ${BRIDGE}`]);
    // A zone bob hosts here: his site's domain in it goes through DNS-01.
    await acme.addZone('bob.test', [], { updatable: true });
    Object.assign(process.env, { UP_SSH_KEY_FILE: lab.hosts[0].privateKeyFile, ...acme.env });
    stack = await startStack({ env: { UP_CERT_RENEW_INTERVAL_MS: '1000' } });

    for (const host of lab.hosts) {
      await db()('hosts').insert({
        id: crypto.randomUUID(),
        name: host.name,
        address: host.address,
        port: host.port,
        ssh_user: host.user,
        host_key_sha256: host.hostKeySha256,
        roles: ['proxy'],
      });
    }
    const owner = (await createUser(db(), { name: 'certadmin', role: 'admin' }))!;
    for (const name of TENANTS) {
      const user = (await createUser(db(), { name, role: 'user' }))!;
      tokens[name] = (
        await createToken(db(), {
          userId: user.id,
          name: 'test',
          scopes: ['read', 'write'],
          allowFrom: [],
          ratePerMinute: null,
          expiresAt: null,
        })
      ).secret;
    }
    await isolateSubids(db(), TENANTS);
    // The lab BIND's zone is hosted in up's DNS: the proxy wildcard under it goes through DNS-01.
    const serverId = await acme.hostZone(db(), { primaryHost: lab.hosts[0].name, ownerId: owner.id });
    const bob = await db()('users').where({ name: 'certbob' }).first('id');
    await db()('dns_zones').insert({ id: crypto.randomUUID(), name: 'bob.test', owner_id: bob.id, server_id: serverId, status: 'active' });

    await succeeded(
      await admin('POST', '/v1/proxies', {
        name: 'p1',
        wildcardDomain: WILDCARD,
        addresses: lab.hosts.map((h) => h.address),
        httpPort: 80,
        httpsPort: 443,
      }),
    );
    for (const [i, host] of lab.hosts.entries()) {
      await succeeded(await admin('POST', '/v1/proxies/p1/hosts', { host: host.name, baseDir: nginx[i].dir }));
    }
  });

  after(async () => {
    await stack?.shutdown();
    for (const n of nginx) await n.down().catch(() => undefined);
    await acme?.down();
    await lab?.down();
    await removeUnixUsers(TENANTS);
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  test("a site's own domain gets a certificate through HTTP-01 on a two-member group: both members serve it verified, HTTP redirects", async () => {
    const alice = api('certalice');
    const created = await succeeded(
      await alice('POST', '/v1/websites', { name: 'shop', proxy: 'p1', domains: ['shop.sites.test'], httpsRedirect: true }),
    );
    assert.ok(
      created.jobs.some((j: Json) => j.op === 'cert.issue'),
      'creating a site with a domain asks for its certificate',
    );
    await uploadContent('certalice', 'shop', '<h1>alice shop</h1>\n');
    await converged('certalice', 'shop', (w) => w.tls === true);

    const cert = await certificateOf('certalice', (c) => c.website === 'shop');
    assert.equal(cert.status, 'valid', cert.lastError);
    assert.equal(cert.challenge, 'http-01');
    assert.deepEqual(cert.names, ['shop.sites.test']);
    assert.match(cert.issuer, /Pebble/);
    for (const host of lab.hosts) {
      assert.deepEqual(await https('shop.sites.test', host.address), { status: 200, body: '<h1>alice shop</h1>\n' });
      const plain = await curlSite('shop.sites.test', host.address, 80, '/x?y=1', ['-D', '-']);
      assert.equal(plain.status, 301);
      assert.match(plain.body, /^location: https:\/\/shop\.sites\.test\/x\?y=1\r?$/im);
      const wire = await served('shop.sites.test', host.address);
      assert.equal(wire.notAfter, cert.notAfter);
      assert.equal(wire.serial, normalSerial(cert.serial));
    }
    // The key: root's alone on every member.
    for (const n of nginx) {
      const key = statSync(`${n.dir}/tls/site-shop-certalice/privkey.pem`);
      assert.equal(key.mode & 0o777, 0o600);
      assert.equal(key.uid, 0);
    }
    // `up certs list` shows it with its expiry.
    const listed = await runUp(['certs', 'list'], { UP_URL: stack.url!, UP_TOKEN: tokens.certalice, UP_LOG_LEVEL: 'silent' });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`shop\\.sites\\.test\\s+valid\\s+${cert.notAfter.replace(/[.]/g, '\\.')}`));
  });

  test('the proxy wildcard comes through DNS-01 against BIND: a brand-new temporary subdomain verifies with no new issuance', async () => {
    const wildcard = await until(
      async () => (await admin('GET', '/v1/certificates')).body.items.find((c: Json) => c.kind === 'wildcard'),
      (c) => c?.status === 'valid',
      'the wildcard certificate',
    );
    assert.equal(wildcard.challenge, 'dns-01');
    assert.deepEqual([...wildcard.names].sort(), [`*.${WILDCARD}`, WILDCARD]);
    // The challenge record is gone again from the zone.
    assert.deepEqual(await bind.dig(`_acme-challenge.${WILDCARD}`, 'TXT'), []);
    const before = (await admin('GET', '/v1/certificates')).body.items.length;

    const bob = api('certbob');
    const created = await succeeded(await bob('POST', '/v1/websites', { name: 'blog', proxy: 'p1' }));
    assert.ok(!created.jobs.some((j: Json) => j.op.startsWith('cert.')), 'no certificate job for a site without domains');
    await uploadContent('certbob', 'blog', '<p>bob writes</p>\n');
    const temp = created.website.tempDomain;
    for (const host of lab.hosts) {
      assert.deepEqual(await https(temp, host.address), { status: 200, body: '<p>bob writes</p>\n' });
      assert.equal((await served(temp, host.address)).serial, normalSerial(wildcard.serial));
    }
    const after = (await admin('GET', '/v1/certificates')).body.items;
    assert.equal(after.length, before);
    assert.equal(after.find((c: Json) => c.kind === 'wildcard').serial, wildcard.serial);
    assert.deepEqual((await bob('GET', '/v1/certificates')).body, { items: [] }, "the proxy's wildcard is the admin's, not a user's");

    // The TSIG secret went to the issuer's disk for the run only, and never into a job.
    const secret = bind.key.secret.toString('base64');
    const { stdout: leftovers } = await run('sh', ['-c', 'ls "$1"/certbot/ | grep rfc2136 || true', 'sh', nginx[0].dir]);
    assert.equal(leftovers.trim(), '');
    const { stdout: logged } = await run('sh', ['-c', 'grep -rlF -- "$2" "$1"/certbot/logs || true', 'sh', nginx[0].dir, secret]);
    assert.equal(logged.trim(), '', "certbot's logs do not hold the secret");
    const jobs = await db()('jobs').whereIn('op', ['cert.issue', 'cert.renew']).select('payload', 'result', 'error');
    assert.ok(jobs.length > 0);
    assert.ok(!JSON.stringify(jobs).includes(secret));
  });

  test("a site's domain in a zone hosted here is proven through DNS-01", async () => {
    const bob = api('certbob');
    const created = await succeeded(await bob('POST', '/v1/websites', { name: 'news', proxy: 'p1', domains: ['news.bob.test'] }));
    assert.ok(created.jobs.some((j: Json) => j.op === 'cert.issue'));
    await uploadContent('certbob', 'news', '<p>news</p>\n');
    await converged('certbob', 'news', (w) => w.tls === true);
    const cert = await certificateOf('certbob', (c) => c.website === 'news');
    assert.equal(cert.status, 'valid', cert.lastError);
    assert.equal(cert.challenge, 'dns-01');
    for (const host of lab.hosts) assert.deepEqual(await https('news.bob.test', host.address), { status: 200, body: '<p>news</p>\n' });
    await succeeded(await bob('DELETE', '/v1/websites/news'));
  });

  test('renewal: one forced through the API and one found by the schedule close to expiry; the new certificates are served', async () => {
    const alice = api('certalice');
    const old = await certificateOf('certalice', (c) => c.website === 'shop');
    // `up certs renew <site> --wait`: POST /v1/certificates/:id/renew, followed to the end.
    const cli = await runUp(['certs', 'renew', 'shop', '--wait', '--json'], {
      UP_URL: stack.url!,
      UP_TOKEN: tokens.certalice,
      UP_LOG_LEVEL: 'silent',
    });
    assert.equal(cli.code, 0, cli.stderr + cli.stdout);
    const [job] = JSON.parse(cli.stdout).jobs;
    assert.equal(job.op, 'cert.renew');
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    // The recorder updates the row right after the job's outcome.
    const renewed = await until(
      async () => (await alice('GET', `/v1/certificates/${old.id}`)).body,
      (c) => c.serial !== old.serial,
      'the renewed serial',
      5_000,
    );
    assert.equal(renewed.status, 'valid');
    for (const host of lab.hosts) {
      assert.equal((await served('shop.sites.test', host.address)).serial, normalSerial(renewed.serial));
      assert.equal((await https('shop.sites.test', host.address)).status, 200);
    }

    // Close to expiry (as the database sees it): the scheduler publishes cert.renew by itself.
    const wildcard = (await admin('GET', '/v1/certificates')).body.items.find((c: Json) => c.kind === 'wildcard');
    await db()('certificates')
      .where({ id: wildcard.id })
      .update({ not_after: new Date(Date.now() + 5 * 86_400_000) });
    const fresh = await until(
      async () => (await admin('GET', `/v1/certificates/${wildcard.id}`)).body,
      (c) => c.status === 'valid' && c.serial !== wildcard.serial,
      'the scheduled renewal of the wildcard',
    );
    assert.ok(new Date(fresh.notAfter).getTime() > Date.now() + 30 * 86_400_000);
    const { body: blog } = await api('certbob')('GET', '/v1/websites/blog');
    for (const host of lab.hosts) assert.equal((await served(blog.tempDomain, host.address)).serial, normalSerial(fresh.serial));
  });

  test('a challenge that cannot succeed fails with the ACME error, the site keeps serving (with its old certificate), and the schedule retries', async () => {
    const alice = api('certalice');
    const before = await certificateOf('certalice', (c) => c.website === 'shop');
    const edit = await alice('PATCH', '/v1/websites/shop', { domains: ['shop.sites.test', 'bad.sites.test'] });
    assert.equal(edit.status, 202, JSON.stringify(edit.body));
    const jobs = await settle(edit.body.jobs);
    const issue = jobs.find((j) => j.op === 'cert.issue')!;
    assert.equal(issue.status, 'failed');
    assert.match(issue.error.message, /Type:\s*\S+.*Detail:/);
    assert.match(issue.error.message, /bad\.sites\.test/);
    for (const j of jobs.filter((j) => j.op === 'website.apply')) assert.equal(j.status, 'succeeded', JSON.stringify(j.error));

    const failed = await until(
      async () => (await alice('GET', `/v1/certificates/${before.id}`)).body,
      (c) => c.status === 'failed',
      'the failure on the row',
      5_000,
    );
    assert.match(failed.lastError, /Detail:/);
    assert.equal(failed.notAfter, before.notAfter, 'the row still shows the certificate in service');
    for (const host of lab.hosts) {
      // The old certificate still serves the name it covers; the new name answers over HTTP, not redirected.
      assert.equal((await served('shop.sites.test', host.address)).serial, normalSerial(before.serial));
      assert.deepEqual(await https('shop.sites.test', host.address), { status: 200, body: '<h1>alice shop</h1>\n' });
      assert.deepEqual(await curlSite('bad.sites.test', host.address, 80), { status: 200, body: '<h1>alice shop</h1>\n' });
    }

    // The schedule tries again (with backoff) and, after repeated failures, raises an alarm.
    const retried = await until(
      async () => (await alice('GET', `/v1/certificates/${before.id}`)).body,
      (c) => c.failures >= 3 && c.status === 'failed',
      'three failed attempts',
      90_000,
    );
    assert.match(retried.lastError, /Detail:/);
    const alarm = await db()('alarms').where({ resource_type: 'certificate', resource_key: before.id, status: 'open' }).first();
    assert.ok(alarm, 'an alarm after three failed attempts');
    assert.match(alarm.message, /bad\.sites\.test/);

    // Back to the name that works: the certificate is valid again and the alarm clears.
    await alice('PATCH', '/v1/websites/shop', { domains: ['shop.sites.test'] });
    await until(
      async () => (await alice('GET', `/v1/certificates/${before.id}`)).body,
      (c) => c.status === 'valid',
      'the certificate to be valid again',
    );
    await until(
      async () => db()('alarms').where({ resource_type: 'certificate', resource_key: before.id, status: 'open' }).first(),
      (a) => !a,
      'the alarm to clear',
    );
  });

  test('hostile input is refused with 4xx naming the field, and another user neither sees nor renews a certificate', async () => {
    const alice = api('certalice');
    const bob = api('certbob');
    const cert = await certificateOf('certalice', (c) => c.website === 'shop');
    const bad = await alice('GET', '/v1/certificates/not-a-uuid');
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /params\/id/);
    for (const id of ["1'; drop table certificates;--", '..%2F..%2Fetc', `${cert.id}x`]) {
      const res = await alice('POST', `/v1/certificates/${encodeURIComponent(id)}/renew`);
      assert.ok(res.status === 400 || res.status === 404, `${id}: ${res.status}`);
    }
    assert.equal((await alice('GET', `/v1/certificates/${crypto.randomUUID()}`)).status, 404);
    assert.equal((await bob('GET', `/v1/certificates/${cert.id}`)).status, 404);
    assert.equal((await bob('POST', `/v1/certificates/${cert.id}/renew`)).status, 404);
    assert.ok((await bob('GET', '/v1/certificates')).body.items.every((c: Json) => c.id !== cert.id));
    const wildcardDomain = await alice('PATCH', '/v1/websites/shop', { domains: ['*.sites.test'] });
    assert.equal(wildcardDomain.status, 400);
    assert.match(JSON.stringify(wildcardDomain.body), /domains/);

    // Deleting the site removes its certificate: the row, and the files on every member.
    await succeeded(await alice('DELETE', '/v1/websites/shop'));
    assert.equal((await alice('GET', `/v1/certificates/${cert.id}`)).status, 404);
    for (const n of nginx) assert.throws(() => statSync(`${n.dir}/tls/site-shop-certalice`), /ENOENT/);
  });
});
