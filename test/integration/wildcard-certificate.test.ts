/**
 * A proxy group's wildcard certificate in the natural order: the group and its member first,
 * the admin's zone (holding the wildcard domain) after. Nothing is asked of the CA while no
 * zone hosted here covers the wildcard, or while that zone is not active yet; once it is, the
 * scheduler asks on its own, and POST /v1/proxies/{name}/certificate is an idempotent way to
 * ask (or to see what was asked). Pebble and a lab BIND prove it, as certs.test.ts does.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { labAcme, type LabAcme } from '../helpers/acme.ts';
import { labHosts, type Lab } from '../helpers/lab-hosts.ts';
import { labNginx, type LabNginx } from '../helpers/lab-nginx.ts';
import { startStack } from '../helpers/stack.ts';
import { testCli } from '../helpers/cli.ts';

const run = promisify(execFile);
const BRIDGE = '10.77.31.1';
const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);

type Stack = Awaited<ReturnType<typeof startStack>>;
type Json = Record<string, any>;

describe('the wildcard certificate of a group whose zone comes after it', { timeout: 300_000 }, () => {
  let lab: Lab;
  let nginx: LabNginx[] = [];
  let acme: LabAcme;
  let stack: Stack;
  let wildcard: string;
  let zoneId: string;
  const saved = { ...process.env };

  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${stack.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${stack.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
  };
  const db = () => stack.database!.knex;
  const wildcardCert = async () => (await admin('GET', '/v1/certificates')).body.items.find((c: Json) => c.kind === 'wildcard');
  const issueJobs = () => db()('jobs').where({ op: 'cert.issue' }).whereRaw("payload->'certificate'->>'name' = 'wildcard'").select('id');

  async function finished(id: string): Promise<Json> {
    for (;;) {
      const { body } = await admin('GET', `/v1/jobs/${id}?waitMs=20000`);
      if (FINAL.has(body.status)) return body;
    }
  }

  async function until<T>(probe: () => Promise<T>, check: (value: T) => boolean, what: string, timeoutMs = 90_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (check(value)) return value;
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The serial of the certificate nginx serves for `name` on the member, as openssl sees it. */
  async function servedSerial(name: string): Promise<string> {
    const { stdout } = await run('sh', [
      '-c',
      'openssl s_client -connect "$1:443" -servername "$2" </dev/null 2>/dev/null | openssl x509 -noout -serial',
      'sh',
      lab.hosts[0].address,
      name,
    ]);
    return /serial=([0-9A-F]+)/i.exec(stdout)![1].toLowerCase().replace(/^0+/, '');
  }

  before(async () => {
    lab = await labHosts(1, { prefix: 'up-wild', subnet: '10.77.31', bridge: 'uplab31' });
    nginx = await labNginx(lab.hosts, 80);
    acme = await labAcme(BRIDGE);
    wildcard = `pw.${acme.bind.zone}`;
    Object.assign(process.env, { UP_SSH_KEY_FILE: lab.hosts[0].privateKeyFile, ...acme.env });
    stack = await startStack({ env: { UP_CERT_RENEW_INTERVAL_MS: '1000' } });
    const host = lab.hosts[0];
    await db()('hosts').insert({
      id: crypto.randomUUID(),
      name: host.name,
      address: host.address,
      port: host.port,
      ssh_user: host.user,
      host_key_sha256: host.hostKeySha256,
      roles: ['proxy'],
    });
    const group = await admin('POST', '/v1/proxies', { name: 'pw', wildcardDomain: wildcard, addresses: [host.address], httpPort: 80 });
    assert.equal(group.status, 202, JSON.stringify(group.body));
    const joined = await admin('POST', '/v1/proxies/pw/hosts', { host: host.name, baseDir: nginx[0].dir });
    assert.equal(joined.status, 202, JSON.stringify(joined.body));
    for (const job of joined.body.jobs) assert.equal((await finished(job.id)).status, 'succeeded', job.op);
  });

  after(async () => {
    await stack?.shutdown();
    for (const n of nginx) await n.down().catch(() => undefined);
    await acme?.down();
    await lab?.down();
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  test('without a zone hosted here nothing is asked for, and asking says why', async () => {
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal(await wildcardCert(), undefined);
    const asked = await admin('POST', '/v1/proxies/pw/certificate');
    assert.equal(asked.status, 409, JSON.stringify(asked.body));
    assert.match(asked.body.message, /no DNS zone hosted here covers/);
    assert.equal((await admin('POST', '/v1/proxies/nosuch/certificate')).status, 404);
  });

  test('a zone that is not active yet is not enough: the DNS server does not answer for it', async () => {
    // The lab BIND's zone, hosted in up as a zone whose creation has not finished.
    await acme.hostZone(db(), { primaryHost: lab.hosts[0].name, ownerId: (await db()('users').where({ role: 'admin' }).first('id')).id });
    const zone = await db()('dns_zones').where({ name: acme.bind.zone }).update({ status: 'pending' }).returning('id');
    zoneId = zone[0].id;
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal(await wildcardCert(), undefined);
    const asked = await admin('POST', '/v1/proxies/pw/certificate');
    assert.equal(asked.status, 409);
    assert.match(asked.body.message, /is pending, not yet active/);
  });

  test('once the zone is active the wildcard is issued on its own, once; asking again returns that job', async () => {
    await db()('dns_zones').where({ id: zoneId }).update({ status: 'active' });
    // Asking right away races the scheduler: either plans it, the other finds it pending.
    const first = await admin('POST', '/v1/proxies/pw/certificate');
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(first.body.job.op, 'cert.issue');
    assert.deepEqual([...first.body.certificate.names].sort(), [`*.${wildcard}`, wildcard]);
    const again = await admin('POST', '/v1/proxies/pw/certificate');
    assert.ok([200, 202].includes(again.status));
    assert.equal(again.body.job.id, first.body.job.id, 'no second issuance while one is pending');

    assert.equal((await finished(first.body.job.id)).status, 'succeeded');
    const cert = await until(wildcardCert, (c) => c?.status === 'valid', 'a valid wildcard certificate');
    assert.equal(cert.challenge, 'dns-01');
    assert.match(cert.issuer, /Pebble/);
    assert.equal((await issueJobs()).length, 1, 'asked for once, whoever asked');

    // nginx serves it for any temporary subdomain (the group's HTTPS server follows the issuance).
    const serial = cert.serial.toLowerCase().replace(/^0+/, '');
    await until(
      () => servedSerial(`anything.${wildcard}`).catch(() => ''),
      (s) => s === serial,
      'the wildcard served',
    );

    // Valid now: asking is answered with what there is, nothing new is planned (also by the scheduler).
    await new Promise((r) => setTimeout(r, 2_500));
    const valid = await admin('POST', '/v1/proxies/pw/certificate');
    assert.equal(valid.status, 200, JSON.stringify(valid.body));
    assert.equal(valid.body.certificate.serial, cert.serial);
    assert.equal(valid.body.job.id, first.body.job.id);
    assert.equal((await issueJobs()).length, 1);

    // The CLI asks the same way: `up certificates create --proxy`, here with its alias.
    const cli = await testCli();
    const env = { UP_URL: stack.url ?? undefined, UP_TOKEN: stack.adminToken ?? undefined };
    try {
      const run = await cli.run(['certs', 'create', '--proxy', 'pw', '--json'], { env });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(JSON.parse(run.stdout).certificate.serial, cert.serial);
      const nosuch = await cli.run(['certificates', 'create', '--proxy', 'nosuch'], { env });
      assert.equal(nosuch.code, 1);
      assert.match(nosuch.stderr, /^up: .*not found/m);
    } finally {
      cli.cleanup();
    }
  });
});
