/**
 * Certificate health on real nginx: pebble issues a site's certificate (HTTP-01, names resolved
 * by a lab BIND), the check finds it valid, recorded and served; a self-signed certificate put
 * in its place behind up's back is found, repaired by a cert.renew, and the new one is served.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { labAcme, type LabAcme } from '../helpers/acme.ts';
import { labHosts, type Lab } from '../helpers/lab-hosts.ts';
import { labNginx, type LabNginx } from '../helpers/lab-nginx.ts';
import { startStack, TEST_TOKEN } from '../helpers/stack.ts';
import { isolateSubids, removeUnixUsers } from '../helpers/unix-users.ts';
import { eventually } from '../helpers/eventually.ts';

const run = promisify(execFile);
const LAB = { prefix: 'up-hcc', subnet: '10.77.13', bridge: 'uplab13' };
const BRIDGE = '10.77.13.1';
const ZONE = 'hcc.test';
const DOMAIN = `shop.${ZONE}`;

type Json = Record<string, any>;

describe('certificate health: checked on each member, repaired by a renewal', { timeout: 300_000 }, () => {
  let lab: Lab;
  let nginx: LabNginx;
  let acme: LabAcme;
  let stack: Awaited<ReturnType<typeof startStack>>;
  let aliceToken: string;
  const saved = { ...process.env };

  const api = async (method: string, url: string, body?: unknown, token = TEST_TOKEN) => {
    const res = await fetch(`${stack.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
  };
  const get = async (url: string, token = TEST_TOKEN) => (await api('GET', url, undefined, token)).body;
  const certHealth = async (token = TEST_TOKEN) =>
    ((await get('/v1/health?type=certificate&history=true', token)).items as Json[]).find((h) => h.resource.key.includes('@'));
  const certificate = async () => ((await get('/v1/certificates')).items as Json[]).find((c) => c.website === 'shop')!;

  const until = <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000) =>
    eventually(what, probe, {
      timeoutMs,
      intervalMs: 200,
      explain: async () =>
        `health: ${JSON.stringify((await get('/v1/health?type=certificate')).items.map((h: Json) => [h.resource, h.state, h.problems]))}`,
    });

  async function succeeded(response: { status: number; body: Json }, token = TEST_TOKEN): Promise<Json> {
    assert.equal(response.status, 202, JSON.stringify(response.body));
    for (const job of response.body.jobs) {
      let done = (await api('GET', `/v1/jobs/${job.id}?waitMs=20000`, undefined, token)).body;
      for (let i = 0; i < 5 && !['succeeded', 'failed', 'dead', 'superseded'].includes(done.status); i++)
        done = (await api('GET', `/v1/jobs/${job.id}?waitMs=20000`, undefined, token)).body;
      assert.equal(done.status, 'succeeded', `${done.op}: ${JSON.stringify(done.error)}`);
    }
    return response.body;
  }

  /** What a client sees on the wire from outside: the served certificate's serial. */
  async function servedSerial(): Promise<string> {
    const { stdout } = await run('sh', [
      '-c',
      'openssl s_client -connect "$1:443" -servername "$2" </dev/null 2>/dev/null | openssl x509 -noout -serial',
      'sh',
      lab.hosts[0].address,
      DOMAIN,
    ]);
    return /serial=([0-9A-F]+)/i.exec(stdout)![1].toLowerCase().replace(/^0+/, '');
  }
  const normal = (serial: string) => serial.toLowerCase().replace(/^0+/, '');

  before(async () => {
    // up creates up-hccalice with the site (tenant.provision); /etc/passwd is this machine's.
    await removeUnixUsers(['hccalice']);
    lab = await labHosts(1, LAB);
    [nginx] = await labNginx(lab.hosts, 80);
    acme = await labAcme(BRIDGE);
    await acme.addZone(ZONE, [`shop IN A ${lab.hosts[0].address}`]);
    Object.assign(process.env, { UP_SSH_KEY_FILE: lab.hosts[0].privateKeyFile, ...acme.env });
    stack = await startStack({ env: { UP_HEALTH_INTERVAL_MS: '1000' } });
    const db = stack.database!.knex;
    const h = lab.hosts[0];
    await db('hosts').insert({
      id: crypto.randomUUID(),
      name: h.name,
      address: h.address,
      port: h.port,
      ssh_user: h.user,
      host_key_sha256: h.hostKeySha256,
      roles: ['proxy'],
      labels: JSON.stringify({
        'health.load-per-cpu': '1000',
        'health.disk-percent': '100',
        'health.memory-percent': '100',
        'health.auth-log': h.logFile,
        'health.tenant-homes': `${h.dir}/home`,
        'health.security-updates': 'off',
      }),
    });
    const alice = (await createUser(db, { name: 'hccalice', role: 'user' }))!;
    await isolateSubids(db, ['hccalice']);
    aliceToken = (
      await createToken(db, {
        userId: alice.id,
        name: 'test',
        scopes: ['read', 'write'],
        allowFrom: [],
        ratePerMinute: null,
        expiresAt: null,
      })
    ).secret;
    await succeeded(
      await api('POST', '/v1/proxies', {
        name: 'p1',
        wildcardDomain: 'p1.hcc-web.test',
        addresses: [h.address],
        httpPort: 80,
        httpsPort: 443,
      }),
    );
    await succeeded(await api('POST', '/v1/proxies/p1/hosts', { host: h.name, baseDir: nginx.dir }));
    await succeeded(await api('POST', '/v1/websites', { name: 'shop', proxy: 'p1', domains: [DOMAIN] }, aliceToken), aliceToken);
    let seen = '';
    await until(
      'the certificate issued and served',
      async () => {
        const cert = await certificate();
        seen = await servedSerial().catch((e) => String(e));
        return cert?.status === 'valid' && seen === normal(cert.serial) && cert;
      },
      120_000,
    ).catch(async (error) => {
      throw new Error(`${error.message}; served: ${seen}; jobs: ${JSON.stringify(await db('jobs').select('op', 'status', 'error'))}`);
    });
  });

  after(async () => {
    await stack?.shutdown();
    await nginx?.down().catch(() => undefined);
    await acme?.down();
    await lab?.down();
    await removeUnixUsers(['hccalice']);
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  test('an issued certificate is checked on its member: healthy, seen by its owner', async () => {
    const cert = await certificate();
    const entry = await until('the certificate healthy', async () => {
      const found = await certHealth();
      return found?.state === 'healthy' && found;
    });
    assert.equal(entry.resource.key, `${cert.id}@${lab.hosts[0].name}`);
    assert.deepEqual(entry.problems, []);
    const { measurements } = await stack
      .database!.knex('health')
      .where({ resource_type: 'certificate', resource_key: entry.resource.key })
      .first('measurements');
    assert.equal(measurements.served, 1);
    assert.ok(measurements.daysLeft > 30, JSON.stringify(measurements));
    assert.equal((await certHealth(aliceToken))?.resource.key, entry.resource.key, "the site's owner sees her certificate's health");
  });

  test('a self-signed certificate swapped in behind our back: found, renewed by a repair, the recorded one served again', async () => {
    const before = await certificate();
    const files = `${nginx.dir}/tls/site-shop-hccalice`;
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '90',
      '-subj',
      `/CN=${DOMAIN}`,
      '-addext',
      `subjectAltName=DNS:${DOMAIN}`,
      '-keyout',
      `${files}/privkey.pem`,
      '-out',
      `${files}/fullchain.pem`,
    ]);
    const rogue = normal(
      (await run('openssl', ['x509', '-noout', '-serial', '-in', `${files}/fullchain.pem`])).stdout.split('=')[1].trim(),
    );
    await run('kill', ['-HUP', readFileSync(`${nginx.dir}/nginx.pid`, 'utf8').trim()]);
    await until('the self-signed certificate served', async () => (await servedSerial()) === rogue, 10_000);

    const broken = await until('the check to find it', async () => {
      const found = await certHealth();
      return found && found.state !== 'healthy' && found;
    });
    const causes = broken.problems.map((p: Json) => p.cause).sort();
    assert.deepEqual(causes, ['certificate-mismatch', 'certificate-not-served'], JSON.stringify(broken.problems));
    assert.match(broken.problems.find((p: Json) => p.cause === 'certificate-not-served').message, new RegExp(`serial ${rogue}`));

    const repaired = await until(
      'healthy again after a renewal',
      async () => {
        const found = await certHealth();
        return found?.state === 'healthy' && found.history.some((h: Json) => h.state === 'repairing') && found;
      },
      120_000,
    );
    const states = repaired.history.map((h: Json) => h.state).reverse();
    assert.deepEqual(states.slice(-3), ['degraded', 'repairing', 'healthy'], JSON.stringify(repaired.history));

    const db = stack.database!.knex;
    const renewals = await db('jobs').where({ op: 'cert.renew', actor: 'system:health' });
    assert.equal(renewals.length, 1, 'one renewal for the episode');
    assert.equal(renewals[0].status, 'succeeded');
    const after = await certificate();
    assert.equal(after.status, 'valid');
    assert.notEqual(after.serial, before.serial, 'a new certificate was issued');
    assert.equal(await servedSerial(), normal(after.serial), 'the recorded certificate is what the member serves');
    assert.equal((await db('alarms').where({ resource_type: 'certificate', status: 'open' })).length, 0);
  });
});
