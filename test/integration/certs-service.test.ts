/**
 * A certificate for a host service (issue 7): certbot on the lab host through DNS-01 against
 * the lab BIND (its zone hosted in up), pebble as the CA, the pair installed in the host's
 * `certs.deploy-dir`. The checks are the ones an operator makes with ls and openssl.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { labAcme, type LabAcme } from '../helpers/acme.ts';
import type { LabBind } from '../helpers/bind.ts';
import { labHosts, type Lab } from '../helpers/lab-hosts.ts';
import { runUp } from '../helpers/processes.ts';
import { startStack } from '../helpers/stack.ts';

const run = promisify(execFile);
const BRIDGE = '10.77.12.1';
const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);

type Stack = Awaited<ReturnType<typeof startStack>>;
type Json = Record<string, any>;

describe('service certificates: certbot on the host, DNS-01 through the lab BIND, pebble', { timeout: 200_000 }, () => {
  let lab: Lab;
  let bind: LabBind;
  let stack: Stack;
  let acme: LabAcme;
  let deployDir: string;
  let userToken: string;
  const saved = { ...process.env };

  const call = (token: () => string) => async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${stack.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token()}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
  };
  const admin = call(() => stack.adminToken!);
  const user = call(() => userToken);
  const db = () => stack.database!.knex;

  async function finished(jobId: string): Promise<Json> {
    for (let i = 0; i < 1800; i++) {
      const { body } = await admin('GET', `/v1/jobs/${jobId}`);
      if (FINAL.has(body.status)) return body;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`job ${jobId} did not finish`);
  }

  async function until<T>(probe: () => Promise<T>, check: (value: T) => boolean, what: string, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (check(value)) return value;
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** What `openssl x509` says of a certificate file. */
  async function x509(file: string): Promise<{ subject: string; san: string; serial: string; notAfter: string }> {
    const { stdout } = await run('openssl', ['x509', '-in', file, '-noout', '-subject', '-ext', 'subjectAltName', '-serial', '-enddate']);
    return {
      subject: /subject=(.*)/.exec(stdout)![1].trim(),
      san: /X509v3 Subject Alternative Name:.*\n\s*(.*)/.exec(stdout)![1].trim(),
      serial: /serial=([0-9A-F]+)/i.exec(stdout)![1].toLowerCase().replace(/^0+/, ''),
      notAfter: new Date(/notAfter=(.+)/.exec(stdout)![1]).toISOString(),
    };
  }
  const normalSerial = (s: string) => s.toLowerCase().replace(/:/g, '').replace(/^0+/, '');

  before(async () => {
    lab = await labHosts(1, { prefix: 'up-svc', subnet: '10.77.12', bridge: 'uplab12' });
    acme = await labAcme(BRIDGE);
    ({ bind } = acme);
    Object.assign(process.env, { UP_SSH_KEY_FILE: lab.hosts[0].privateKeyFile, ...acme.env });
    stack = await startStack({ env: { UP_CERT_RENEW_INTERVAL_MS: '1000' } });

    // Namespaces share one filesystem: the host's certbot state and deploy dir are this test's own.
    const host = lab.hosts[0];
    deployDir = join(host.dir, 'tls');
    await db()('hosts').insert({
      id: crypto.randomUUID(),
      name: host.name,
      address: host.address,
      port: host.port,
      ssh_user: host.user,
      host_key_sha256: host.hostKeySha256,
      roles: [],
      labels: JSON.stringify({ 'certs.base-dir': join(host.dir, 'up'), 'certs.deploy-dir': deployDir }),
    });
    const owner = (await createUser(db(), { name: 'svcadmin', role: 'admin' }))!;
    const tenant = (await createUser(db(), { name: 'svcuser', role: 'user' }))!;
    userToken = (
      await createToken(db(), {
        userId: tenant.id,
        name: 'test',
        scopes: ['read', 'write'],
        allowFrom: [],
        ratePerMinute: null,
        expiresAt: null,
      })
    ).secret;
    await acme.hostZone(db(), { primaryHost: host.name, ownerId: owner.id });
  });

  after(async () => {
    await stack?.shutdown();
    await acme?.down();
    await lab?.down();
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  test('`up certs create --service nginx`: the pair lands in the deploy dir, root-only, for the name; the row is valid; renewals (API and schedule) put new serials on disk', async () => {
    const name = `svc.${bind.zone}`;
    const cli = await runUp(['certs', 'create', '--host', lab.hosts[0].name, '--service', 'nginx', '--name', name, '--wait', '--json'], {
      UP_URL: stack.url!,
      UP_TOKEN: stack.adminToken!,
      UP_LOG_LEVEL: 'silent',
    });
    assert.equal(cli.code, 0, cli.stderr || cli.stdout);
    const created = JSON.parse(cli.stdout);
    assert.equal(created.jobs[0].status, 'succeeded', JSON.stringify(created.jobs[0].error));
    assert.equal(created.jobs[0].op, 'cert.issue');

    const files = { cert: join(deployDir, 'nginx', 'fullchain.pem'), key: join(deployDir, 'nginx', 'privkey.pem') };
    for (const file of Object.values(files)) {
      const st = statSync(file);
      assert.equal(st.mode & 0o777, 0o600, `${file} mode ${(st.mode & 0o777).toString(8)}`);
      assert.equal(st.uid, 0);
      assert.equal(st.gid, 0);
    }
    const onDisk = await x509(files.cert);
    assert.match(onDisk.subject, new RegExp(`CN ?= ?${name.replace(/\./g, '\\.')}`));
    assert.equal(onDisk.san, `DNS:${name}`);
    // The key on disk belongs to the certificate on disk.
    const pub = async (args: string[]) => (await run('openssl', args)).stdout;
    assert.equal(await pub(['pkey', '-in', files.key, '-pubout']), await pub(['x509', '-in', files.cert, '-noout', '-pubkey']));

    const cert = await until(
      async () => (await admin('GET', `/v1/certificates/${created.certificate.id}`)).body,
      (c) => c.status === 'valid',
      'the row to be valid',
      5_000,
    );
    assert.equal(cert.kind, 'service');
    assert.deepEqual(cert.names, [name]);
    assert.equal(cert.challenge, 'dns-01');
    assert.equal(cert.notAfter, onDisk.notAfter);
    assert.equal(normalSerial(cert.serial), onDisk.serial);
    const listed = await admin('GET', '/v1/certificates');
    assert.ok(
      listed.body.items.some((c: Json) => c.id === cert.id && c.kind === 'service'),
      'listed',
    );
    // The challenge record is gone from the zone again.
    assert.deepEqual(await bind.dig(`_acme-challenge.${name}`, 'TXT'), []);

    // Renewed through the API: a new certificate on disk.
    const renewal = await admin('POST', `/v1/certificates/${cert.id}/renew`);
    assert.equal(renewal.status, 202, JSON.stringify(renewal.body));
    const renewJob = await finished(renewal.body.job.id);
    assert.equal(renewJob.status, 'succeeded', JSON.stringify(renewJob.error));
    assert.equal(renewJob.op, 'cert.renew');
    const renewed = await x509(files.cert);
    assert.notEqual(renewed.serial, onDisk.serial);
    const row = await until(
      async () => (await admin('GET', `/v1/certificates/${cert.id}`)).body,
      (c) => normalSerial(c.serial ?? '') === renewed.serial,
      'the row to show the renewed serial',
      5_000,
    );
    assert.equal(row.status, 'valid');
    assert.equal(statSync(files.key).mode & 0o777, 0o600);

    // Close to expiry as the database sees it: the schedule renews it by itself.
    await db()('certificates')
      .where({ id: cert.id })
      .update({ not_after: new Date(Date.now() + 5 * 86_400_000) });
    const scheduled = await until(
      async () => (await admin('GET', `/v1/certificates/${cert.id}`)).body,
      (c) => c.status === 'valid' && normalSerial(c.serial) !== renewed.serial,
      'the scheduled renewal',
      60_000,
    );
    const job = await finished(scheduled.lastJobId);
    assert.equal(job.op, 'cert.renew');
    assert.equal(job.actor, 'system:scheduler');
    assert.equal((await x509(files.cert)).serial, normalSerial(scheduled.serial));
  });

  test('refusals: a user gets 403, an unknown service and hostile names 400 naming the field, a name outside hosted zones 422', async () => {
    const host = lab.hosts[0].name;
    const good = { host, service: 'postfix', names: [`mail.${bind.zone}`] };
    const denied = await user('POST', '/v1/certificates', good);
    assert.equal(denied.status, 403, JSON.stringify(denied.body));

    const unknown = await admin('POST', '/v1/certificates', { ...good, service: 'sendmail' });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.message, /service/);

    for (const hostile of [
      '$(id).example.test',
      'a;reboot.example.test',
      '../../etc/passwd',
      'x y.example.test',
      '-d evil.example.test',
      'a'.repeat(300),
    ]) {
      const res = await admin('POST', '/v1/certificates', { ...good, names: [hostile] });
      assert.equal(res.status, 400, `${hostile}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.message, /names/);
    }
    const badHost = await admin('POST', '/v1/certificates', { ...good, host: 'Bad;Host' });
    assert.equal(badHost.status, 400);
    assert.match(badHost.body.message, /host/);
    assert.equal((await admin('POST', '/v1/certificates', { ...good, host: 'nosuchhost' })).status, 404);

    const outside = await admin('POST', '/v1/certificates', { ...good, names: [`mail.${bind.zone}`, 'mail.not-hosted.test'] });
    assert.equal(outside.status, 422, JSON.stringify(outside.body));
    assert.match(outside.body.message, /mail\.not-hosted\.test.*not in a DNS zone hosted here/);

    // None of the refusals left a row or a job behind.
    assert.equal((await db()('certificates').where({ name: 'service-postfix' })).length, 0);
  });
});
