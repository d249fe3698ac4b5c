/**
 * host.prepare for the `dns` role on a lab host (a network namespace with sshd): BIND set up for
 * dynamic zones from the DNS server that names the host its primary, idempotent, and then used
 * as it is meant to be — a zone and a record through the API, answered by dig.
 *
 * Lab hosts share one filesystem, so the server's rndc.conf and zone directory sit in the host's
 * own lab directory; host.prepare takes BIND's config directory from the rndc.conf path.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { tsigKeysDir } from '../helpers/bind.ts';
import { labHosts, type Lab, type LabHost } from '../helpers/lab-hosts.ts';
import { startStack } from '../helpers/stack.ts';

const run = promisify(execFile);
type Stack = Awaited<ReturnType<typeof startStack>>;
type Json = Record<string, any>;
const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);
const KEY = 'up-prepared';

describe('host.prepare for the dns role, on a lab host', () => {
  let lab: Lab;
  let h1: LabHost;
  let stack: Stack;
  let keys: Awaited<ReturnType<typeof tsigKeysDir>>;
  let secret: string;
  let configDir: string;

  before(async () => {
    lab = await labHosts(1, { prefix: 'up-dnsw', subnet: '10.77.10', bridge: 'uplab10' });
    [h1] = lab.hosts;
    configDir = join(h1.dir, 'bind', 'etc');
    process.env.UP_SSH_KEY_FILE = h1.privateKeyFile;
    secret = randomBytes(32).toString('base64');
    keys = await tsigKeysDir(KEY, secret);
    process.env.UP_TSIG_KEYS_DIR = keys.dir;
    stack = await startStack();
    await stack.database!.knex('hosts').insert({
      id: crypto.randomUUID(),
      name: h1.name,
      address: h1.address,
      port: h1.port,
      ssh_user: h1.user,
      host_key_sha256: h1.hostKeySha256,
      roles: ['dns'],
    });
    const server = await call('POST', '/v1/dns/servers', {
      name: 'prepared',
      primary: h1.name,
      address: h1.address,
      port: 53,
      rndcConf: join(configDir, 'rndc.conf'),
      zoneDir: join(h1.dir, 'bind', 'zones'),
      keyName: KEY,
    });
    assert.equal(server.statusCode, 201, server.body);
  });

  after(async () => {
    await stack?.shutdown();
    await lab?.down(); // every process in the namespace goes, named included
    await keys?.remove();
    delete process.env.UP_TSIG_KEYS_DIR;
    delete process.env.UP_SSH_KEY_FILE;
  });

  function call(method: 'GET' | 'POST', url: string, body?: unknown) {
    return stack.app!.inject({ method, url, payload: body as never, headers: stack.auth });
  }

  async function job(res: { statusCode: number; body: string; json(): Json }): Promise<Json> {
    assert.equal(res.statusCode, 202, res.body);
    for (let i = 0; i < 100; i++) {
      const found = (await call('GET', `/v1/jobs/${res.json().id}?waitMs=15000`)).json();
      if (FINAL.has(found.status)) return found;
    }
    throw new Error('the job did not finish');
  }

  /** host.prepare, then the `dns` role's set-up that follows it once the packages are there (same correlation). */
  async function prepare(): Promise<{ prepared: Json; setup: Json }> {
    const prepared = await job(await call('POST', `/v1/hosts/${h1.name}/prepare`));
    assert.equal(prepared.status, 'succeeded', JSON.stringify(prepared.error));
    const { items } = (await call('GET', `/v1/jobs?correlation=${prepared.correlationId}`)).json();
    const followUp = items.find((j: Json) => j.op === 'dns.server.setup');
    assert.ok(followUp, `a dns.server.setup follows host.prepare: ${JSON.stringify(items.map((j: Json) => j.op))}`);
    const setup = await job({ statusCode: 202, body: '', json: () => followUp });
    assert.equal(setup.status, 'succeeded', JSON.stringify(setup.error));
    return { prepared, setup };
  }

  const dig = async (name: string, type: string) =>
    (await run('dig', ['+short', '+norecurse', '+time=2', '+tries=1', `@${h1.address}`, name, type])).stdout.split('\n').filter(Boolean);

  test('the first run sets BIND up and starts named; the key file is 0640 root:bind and the secret stays out of the job', async () => {
    const { prepared: first, setup } = await prepare();
    assert.equal(first.result.changed, true);
    assert.equal(setup.result.configDir, configDir);
    for (const what of [
      `${configDir}/named.conf`,
      `${configDir}/rndc.conf`,
      `${configDir}/rndc.key`,
      `${configDir}/up-tsig-${KEY}.key`,
      join(h1.dir, 'bind', 'zones'),
      'named started',
    ]) {
      assert.ok(setup.result.changed.includes(what), `${what} in ${JSON.stringify(setup.result.changed)}`);
    }
    const key = statSync(`${configDir}/up-tsig-${KEY}.key`);
    assert.equal(key.mode & 0o777, 0o640);
    assert.equal(key.uid, 0);
    assert.equal(key.gid, Number((await run('getent', ['group', 'bind'])).stdout.split(':')[2]));
    for (const done of [first, setup]) {
      const events = (await call('GET', `/v1/jobs/${done.id}`)).body;
      assert.ok(!events.includes(secret) && !JSON.stringify(done).includes(secret), 'the TSIG secret is in no job row');
    }
    const { stdout } = await run('ip', ['netns', 'exec', h1.namespace, 'ss', '-Hlnu', 'sport = :53']);
    assert.match(stdout, /:53\b/, 'named listens on port 53 in the host');
  });

  test('a second run changes nothing', async () => {
    const { prepared: again, setup } = await prepare();
    assert.deepEqual(setup.result.changed, []);
    assert.equal(again.result.changed, false);
  });

  test('a zone created through the API on the prepared server answers dig, and takes signed updates', async () => {
    const zone = await job(await call('POST', '/v1/dns/zones', { name: 'prepared.test' }));
    assert.equal(zone.status, 'succeeded', JSON.stringify(zone.error));
    assert.equal(zone.result.created, true);
    const soa = await dig('prepared.test', 'SOA');
    assert.equal(soa.length, 1);
    assert.match(soa[0], /^ns1\.prepared\.test\. hostmaster\.prepared\.test\. \d+ /);
    const record = await job(await call('POST', '/v1/dns/zones/prepared.test/records', { name: 'www', type: 'A', address: '192.0.2.80' }));
    assert.equal(record.status, 'succeeded', JSON.stringify(record.error));
    assert.deepEqual(await dig('www.prepared.test', 'A'), ['192.0.2.80']);
    const commands = `server ${h1.address} 53\nzone prepared.test\nupdate add evil.prepared.test 60 A 10.6.6.6\nsend\n`;
    const unsigned = await run('sh', ['-c', 'printf "%s" "$1" | nsupdate', 'sh', commands]).then(
      () => null,
      (e: { stderr: string }) => e.stderr,
    );
    assert.match(unsigned ?? 'accepted', /REFUSED/, 'an unsigned update is refused');
    assert.deepEqual(await dig('evil.prepared.test', 'A'), []);
  });

  test('after a zone exists, prepare still changes nothing and the zone still answers', async () => {
    const { setup } = await prepare();
    assert.deepEqual(setup.result.changed, []);
    assert.equal((await dig('prepared.test', 'SOA')).length, 1);
  });
});
