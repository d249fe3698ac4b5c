import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { v7 } from 'uuid';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { labBind, tsigKeysDir, type LabBind } from '../helpers/bind.ts';
import { runUp } from '../helpers/processes.ts';
import { TEST_TOKEN, startStack } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
const ZONE = 'shop.test';

/** Zones and records through the API, applied to a real BIND, checked with dig. */
describe('DNS zones and records: API → job → RFC 2136 → BIND', () => {
  let bind: LabBind;
  let stack: Stack;
  let keys: Awaited<ReturnType<typeof tsigKeysDir>>;
  let userB: { authorization: string };

  before(async () => {
    bind = await labBind();
    keys = await tsigKeysDir(bind.key.name, bind.key.secret);
    process.env.UP_TSIG_KEYS_DIR = keys.dir;
    stack = await startStack();
    const db = stack.database!.knex;
    await db('hosts').insert({
      id: v7(),
      name: 'dns1',
      address: '127.0.0.1',
      port: 22,
      ssh_user: 'root',
      host_key_sha256: `SHA256:${'A'.repeat(43)}`,
      local: true,
    });
    const b = await createUser(db, { name: 'bob', role: 'user' });
    const { secret } = await createToken(db, {
      userId: b!.id,
      name: 'test',
      scopes: ['read', 'write'],
      allowFrom: [],
      ratePerMinute: null,
      expiresAt: null,
    });
    userB = { authorization: `Bearer ${secret}` };
    const server = await call('POST', '/v1/dns/servers', {
      name: 'lab',
      primary: 'dns1',
      address: bind.server.address,
      port: bind.server.port,
      rndcConf: join(bind.dir, 'rndc.conf'),
      zoneDir: join(bind.dir, 'zones'),
      keyName: bind.key.name,
    });
    assert.equal(server.statusCode, 201, server.body);
  });

  after(async () => {
    await stack?.shutdown();
    await bind?.down();
    await keys?.remove();
    delete process.env.UP_TSIG_KEYS_DIR;
  });

  function call(method: Method, url: string, body?: unknown, auth: { authorization: string } = stack.auth) {
    return stack.app!.inject({ method, url, payload: body as never, headers: auth });
  }

  async function done(res: { statusCode: number; json(): { id: string }; body: string }) {
    assert.equal(res.statusCode, 202, res.body);
    for (;;) {
      const job = (await call('GET', `/v1/jobs/${res.json().id}?waitMs=15000`)).json();
      if (!['accepted', 'queued', 'running', 'retrying'].includes(job.status)) return job;
    }
  }

  async function records(): Promise<Array<{ id: string; name: string; type: string; rdata: string }>> {
    return (await call('GET', `/v1/dns/zones/${ZONE}/records`)).json().items;
  }

  test('a zone is created on the primary, answers SOA, and shows active with its serial', async () => {
    const job = await done(await call('POST', '/v1/dns/zones', { name: 'Shop.Test.' }));
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.result.created, true);
    const soa = await bind.dig(ZONE, 'SOA');
    assert.equal(soa.length, 1);
    assert.match(soa[0], /^ns1\.shop\.test\. hostmaster\.shop\.test\. \d+ /);
    assert.deepEqual(await bind.dig(ZONE, 'NS'), ['ns1.shop.test.']);
    const zone = (await call('GET', `/v1/dns/zones/${ZONE}`)).json();
    assert.equal(zone.status, 'active');
    assert.equal(zone.serial, Number(soa[0].split(' ')[2]));
  });

  test('creating a zone that exists, or one inside it, is a conflict', async () => {
    assert.equal((await call('POST', '/v1/dns/zones', { name: ZONE })).statusCode, 409);
    const res = await call('POST', '/v1/dns/zones', { name: `sub.${ZONE}` }, userB);
    assert.equal(res.statusCode, 409, res.body);
    assert.match(res.json().message, /another user/);
  });

  test('every record type, in one batch, is served exactly as the API says', async () => {
    const job = await done(
      await call('POST', `/v1/dns/zones/${ZONE}/records`, {
        records: [
          { name: 'www', type: 'A', address: '10.0.0.5', ttl: 300 },
          { name: 'www', type: 'A', address: '10.0.0.6', ttl: 300 },
          { name: '@', type: 'AAAA', address: '2001:0db8::0001' },
          { name: 'blog', type: 'CNAME', target: 'www.shop.test' },
          { name: '@', type: 'MX', preference: 10, exchange: 'mx.example.net.' },
          { name: '@', type: 'TXT', text: `v=spf1 -all ${'x'.repeat(300)}` },
          { name: '_sip._tcp', type: 'SRV', priority: 1, weight: 5, port: 5060, target: 'sip.example.net' },
          { name: '@', type: 'CAA', flags: 0, tag: 'issue', value: 'letsencrypt.org' },
          { name: 'sub', type: 'NS', target: 'ns.elsewhere.example' },
          { name: '5', type: 'PTR', target: 'host.shop.test' },
        ],
      }),
    );
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.result.changes, 10);
    assert.deepEqual((await bind.dig(`www.${ZONE}`, 'A')).sort(), ['10.0.0.5', '10.0.0.6']);
    assert.deepEqual(await bind.dig(ZONE, 'AAAA'), ['2001:db8::1']);
    assert.deepEqual(await bind.dig(`blog.${ZONE}`, 'CNAME'), ['www.shop.test.']);
    assert.deepEqual(await bind.dig(ZONE, 'MX'), ['10 mx.example.net.']);
    const txt = await bind.dig(ZONE, 'TXT');
    assert.equal(txt.length, 1);
    assert.equal(txt[0].replace(/" "/g, '').replace(/"/g, ''), `v=spf1 -all ${'x'.repeat(300)}`, 'the long TXT comes back whole');
    assert.deepEqual(await bind.dig(`_sip._tcp.${ZONE}`, 'SRV'), ['1 5 5060 sip.example.net.']);
    assert.deepEqual(await bind.dig(ZONE, 'CAA'), ['0 issue "letsencrypt.org"']);
    assert.deepEqual(await bind.dig(`sub.${ZONE}`, 'NS', ['+noshort', '+noall', '+authority']).then((l) => l.length > 0), true);
    assert.deepEqual(await bind.dig(`5.${ZONE}`, 'PTR'), ['host.shop.test.']);
    const listed = await records();
    assert.equal(listed.length, 10);
    assert.ok(
      listed.some((r) => r.name === '@' && r.type === 'AAAA' && r.rdata === '2001:db8::1'),
      'the API shows canonical values',
    );
    const zone = (await call('GET', `/v1/dns/zones/${ZONE}`)).json();
    assert.equal(zone.serial, Number((await bind.dig(ZONE, 'SOA'))[0].split(' ')[2]), 'the zone keeps the serial the server has');
  });

  test('a single record is added, updated and deleted', async () => {
    assert.equal(
      (await done(await call('POST', `/v1/dns/zones/${ZONE}/records`, { name: 'api', type: 'A', address: '10.1.0.1' }))).status,
      'succeeded',
    );
    assert.deepEqual(await bind.dig(`api.${ZONE}`, 'A'), ['10.1.0.1']);
    const api = (await records()).find((r) => r.name === 'api')!;
    const patched = await done(await call('PATCH', `/v1/dns/zones/${ZONE}/records/${api.id}`, { address: '10.1.0.2', ttl: 120 }));
    assert.equal(patched.status, 'succeeded', JSON.stringify(patched.error));
    assert.deepEqual(await bind.dig(`api.${ZONE}`, 'A'), ['10.1.0.2']);
    const ttl = (await bind.dig(`api.${ZONE}`, 'A', ['+noshort', '+noall', '+answer']))[0].split(/\s+/)[1];
    assert.equal(ttl, '120');
    assert.equal((await done(await call('DELETE', `/v1/dns/zones/${ZONE}/records/${api.id}`))).status, 'succeeded');
    assert.deepEqual(await bind.dig(`api.${ZONE}`, 'A'), []);
    assert.equal(
      (await records()).some((r) => r.name === 'api'),
      false,
    );
  });

  test('a CNAME stays alone at its name and never at the apex', async () => {
    const beside = await call('POST', `/v1/dns/zones/${ZONE}/records`, { name: 'www', type: 'CNAME', target: 'elsewhere.example' });
    assert.equal(beside.statusCode, 409, beside.body);
    assert.match(beside.json().message, /alone/);
    const under = await call('POST', `/v1/dns/zones/${ZONE}/records`, { name: 'blog', type: 'TXT', text: 'x' });
    assert.equal(under.statusCode, 409);
    const apex = await call('POST', `/v1/dns/zones/${ZONE}/records`, { name: '@', type: 'CNAME', target: 'elsewhere.example' });
    assert.equal(apex.statusCode, 422, apex.body);
    const outside = await call('POST', `/v1/dns/zones/${ZONE}/records`, { name: 'www.other.test.', type: 'A', address: '10.0.0.1' });
    assert.equal(outside.statusCode, 400);
    assert.match(outside.json().message, /body\/name.*outside the zone/);
  });

  test('hostile or malformed input is refused with 400 naming the field', async () => {
    const hostile = [';', '{', '}', '"', "'", '\n', '\u0000', '..', '$', '`', 'a b', '../etc'];
    const url = `/v1/dns/zones/${ZONE}/records`;
    const cases: Array<[string, Record<string, unknown>]> = [];
    for (const bad of hostile) {
      cases.push(['name', { name: `w${bad}x`, type: 'A', address: '10.0.0.1' }]);
      cases.push(['address', { name: 'w', type: 'A', address: `10.0.0.1${bad}` }]);
      cases.push(['target', { name: 'w', type: 'CNAME', target: `t${bad}x.example` }]);
      cases.push(['exchange', { name: 'w', type: 'MX', preference: 1, exchange: `m${bad}x.example` }]);
      cases.push(['tag', { name: 'w', type: 'CAA', flags: 0, tag: `is${bad}sue`, value: 'x' }]);
    }
    for (const bad of ['\n', '\u0000', '\u001b[31m']) {
      cases.push(['text', { name: 'w', type: 'TXT', text: `a${bad}b` }]);
      cases.push(['value', { name: 'w', type: 'CAA', flags: 0, tag: 'issue', value: `a${bad}b` }]);
    }
    cases.push(['ttl', { name: 'w', type: 'A', address: '10.0.0.1', ttl: 10 }]);
    cases.push(['ttl', { name: 'w', type: 'A', address: '10.0.0.1', ttl: 604801 }]);
    cases.push(['preference', { name: 'w', type: 'MX', preference: 65536, exchange: 'mx.example' }]);
    cases.push(['port', { name: 'w', type: 'SRV', priority: 0, weight: 0, port: 70000, target: 'x.example' }]);
    cases.push(['flags', { name: 'w', type: 'CAA', flags: 7, tag: 'issue', value: 'x' }]);
    cases.push(['address', { name: 'w', type: 'AAAA', address: '10.0.0.1' }]);
    cases.push(['text', { name: 'w', type: 'TXT', text: 'é'.repeat(2001) }]);
    cases.push(['type', { name: 'w', type: 'SOA' }]);
    for (const [field, body] of cases) {
      const res = await call('POST', url, body);
      assert.equal(res.statusCode, 400, `${JSON.stringify(body)} → ${res.statusCode} ${res.body}`);
      assert.match(res.json().message, new RegExp(`body/${field}`), `${JSON.stringify(body)}: ${res.body}`);
    }
    for (const name of ['a;b.test', 'a..test', 'x{y}.test', 'a$b.test', 'single', "a'b.test"]) {
      const res = await call('POST', '/v1/dns/zones', { name });
      assert.equal(res.statusCode, 400, `${name}: ${res.body}`);
      assert.match(res.json().message, /body\/name/);
    }
    assert.equal((await call('GET', '/v1/dns/zones/a;b.test')).statusCode, 400);
    const server = await call('POST', '/v1/dns/servers', {
      name: 'x',
      primary: 'dns1',
      address: '127.0.0.1',
      keyName: 'k";}; evil',
      zoneDir: '/tmp/../etc',
    });
    assert.equal(server.statusCode, 400);
    assert.equal(
      (await records()).some((r) => r.name === 'w'),
      false,
      'nothing was stored',
    );
  });

  test('another user neither sees nor changes the zone (404), and cannot manage servers (403)', async () => {
    assert.deepEqual((await call('GET', '/v1/dns/zones', undefined, userB)).json(), { items: [] });
    assert.equal((await call('GET', `/v1/dns/zones/${ZONE}`, undefined, userB)).statusCode, 404);
    assert.equal((await call('GET', `/v1/dns/zones/${ZONE}/records`, undefined, userB)).statusCode, 404);
    const id = (await records())[0].id;
    assert.equal(
      (await call('POST', `/v1/dns/zones/${ZONE}/records`, { name: 'evil', type: 'A', address: '10.6.6.6' }, userB)).statusCode,
      404,
    );
    assert.equal((await call('PATCH', `/v1/dns/zones/${ZONE}/records/${id}`, { ttl: 600 }, userB)).statusCode, 404);
    assert.equal((await call('DELETE', `/v1/dns/zones/${ZONE}/records/${id}`, undefined, userB)).statusCode, 404);
    assert.equal((await call('POST', `/v1/dns/zones/${ZONE}/verify`, { repair: true }, userB)).statusCode, 404);
    assert.equal((await call('DELETE', `/v1/dns/zones/${ZONE}`, undefined, userB)).statusCode, 404);
    assert.equal((await call('GET', '/v1/dns/servers', undefined, userB)).statusCode, 403);
    assert.deepEqual(await bind.dig(`evil.${ZONE}`, 'A'), []);
    // Bob's own zone works, and the admin sees both.
    const own = await done(await call('POST', '/v1/dns/zones', { name: 'bob.test' }, userB));
    assert.equal(own.status, 'succeeded', JSON.stringify(own.error));
    assert.deepEqual(
      (await call('GET', '/v1/dns/zones', undefined, userB)).json().items.map((z: { name: string }) => z.name),
      ['bob.test'],
    );
    assert.deepEqual(
      (await call('GET', '/v1/dns/zones')).json().items.map((z: { name: string }) => z.name),
      ['bob.test', ZONE],
    );
  });

  test("a user follows their own zone's job, and a zone beyond their plan is refused with 422", async () => {
    const owned = (await call('GET', '/v1/dns/zones', undefined, userB)).json().items.length;
    assert.equal((await call('PATCH', '/v1/users/bob', { limits: { dnsZones: owned + 1 } })).statusCode, 200);
    const first = await call('POST', '/v1/dns/zones', { name: 'bob-one.test' }, userB);
    assert.equal(first.statusCode, 202, first.body);
    const job = await call('GET', `/v1/jobs/${first.json().id}?waitMs=15000`, undefined, userB);
    assert.equal(job.statusCode, 200, 'the job of their own change is theirs to see');
    assert.equal(job.json().status, 'succeeded', job.body);
    const second = await call('POST', '/v1/dns/zones', { name: 'bob-two.test' }, userB);
    assert.equal(second.statusCode, 422, second.body);
    assert.equal(second.json().error, 'limit_reached');
    assert.equal(second.json().message, `plan limit reached: at most ${owned + 1} dnsZones`);
    await done(await call('DELETE', '/v1/dns/zones/bob-one.test', undefined, userB));
  });

  test('deleting a zone removes it from the server and from the API', async () => {
    const job = await done(await call('DELETE', '/v1/dns/zones/bob.test', undefined, userB));
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.deepEqual(await bind.dig('bob.test', 'SOA'), []);
    assert.equal((await call('GET', '/v1/dns/zones/bob.test', undefined, userB)).statusCode, 404);
    assert.equal((await call('DELETE', '/v1/dns/servers/lab')).statusCode, 409, 'a server with zones stays');
  });
  test('the CLI creates a zone and records, and dig sees them', async () => {
    const env = { UP_URL: stack.url!, UP_TOKEN: TEST_TOKEN };
    const created = await runUp(['dns', 'zones', 'create', 'CLI.test', '--wait'], env);
    assert.equal(created.code, 0, created.stderr + created.stdout);
    const added = await runUp(['dns', 'records', 'add', 'cli.test', 'www', 'A', '10.0.0.5', '--ttl', '300', '--wait'], env);
    assert.equal(added.code, 0, added.stderr + added.stdout);
    const mx = await runUp(['dns', 'records', 'add', 'cli.test', '@', 'MX', '10', 'mx.example.net', '--wait', '--json'], env);
    assert.equal(mx.code, 0, mx.stderr);
    assert.equal(JSON.parse(mx.stdout).status, 'succeeded');
    assert.deepEqual(await bind.dig('www.cli.test', 'A'), ['10.0.0.5']);
    assert.deepEqual(await bind.dig('cli.test', 'MX'), ['10 mx.example.net.']);
    const listed = JSON.parse((await runUp(['dns', 'records', 'list', 'cli.test', '--json'], env)).stdout);
    assert.deepEqual(listed.map((r: { name: string; type: string; rdata: string }) => `${r.name} ${r.type} ${r.rdata}`).sort(), [
      '@ MX 10 mx.example.net.',
      'www A 10.0.0.5',
    ]);
    const www = listed.find((r: { name: string }) => r.name === 'www');
    assert.equal((await runUp(['dns', 'records', 'update', 'cli.test', www.id, '10.0.0.7', '--wait'], env)).code, 0);
    assert.deepEqual(await bind.dig('www.cli.test', 'A'), ['10.0.0.7']);
    const bad = await runUp(['dns', 'records', 'add', 'cli.test', 'w;x', 'A', '10.0.0.1'], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /400 body\/name/);
    const show = await runUp(['dns', 'zones', 'show', 'cli.test'], env);
    assert.match(show.stdout, /cli\.test\s+lab\s+active/);
    const verify = await runUp(['dns', 'zones', 'verify', 'cli.test', '--wait', '--json'], env);
    assert.deepEqual([JSON.parse(verify.stdout).result.missing, JSON.parse(verify.stdout).result.unexpected], [[], []]);
  });
});
