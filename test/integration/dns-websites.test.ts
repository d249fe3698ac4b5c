/**
 * DNS that follows websites and proxy groups, on a real BIND: a site's domains in a zone its
 * owner hosts resolve to the proxy group's addresses, follow its edits and go with it; the
 * group's wildcard resolves from the admin's zone. Checked with dig, as a person would.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { v7 } from 'uuid';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { labBind, tsigKeysDir, type LabBind } from '../helpers/bind.ts';
import { startStack } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
type Json = Record<string, any>;
type Auth = { authorization: string };

const ZONE = 'shop.test';
const ADMIN_ZONE = 'web.test';
const WILDCARD = `p1.${ADMIN_ZONE}`;
const ADDRESSES = ['192.0.2.10', '192.0.2.11'];
const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);

describe('DNS records of websites and proxy groups, on BIND', () => {
  let bind: LabBind;
  let stack: Stack;
  let keys: Awaited<ReturnType<typeof tsigKeysDir>>;
  let alice: Auth;
  let bob: Auth;

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
    const auth = async (name: string) => {
      const user = (await createUser(db, { name, role: 'user' }))!;
      const { secret } = await createToken(db, {
        userId: user.id,
        name: 'test',
        scopes: ['read', 'write'],
        allowFrom: [],
        ratePerMinute: null,
        expiresAt: null,
      });
      return { authorization: `Bearer ${secret}` };
    };
    alice = await auth('alice');
    bob = await auth('bob');
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

  function call(method: Method, url: string, body?: unknown, auth: Auth = stack.auth) {
    return stack.app!.inject({ method, url, payload: body as never, headers: auth });
  }

  async function finished(id: string, auth: Auth = stack.auth): Promise<Json> {
    for (let i = 0; i < 100; i++) {
      const job = (await call('GET', `/v1/jobs/${id}?waitMs=15000`, undefined, auth)).json();
      if (FINAL.has(job.status)) return job;
    }
    throw new Error(`job ${id} did not finish`);
  }

  /** A 202 whose jobs all succeed; returns the DNS jobs among them. */
  async function changed(res: { statusCode: number; body: string; json(): Json }, auth: Auth = stack.auth): Promise<Json[]> {
    assert.equal(res.statusCode, 202, res.body);
    const body = res.json();
    const jobs = await Promise.all((body.jobs ?? [body]).map((j: Json) => finished(j.id, auth)));
    for (const job of jobs) assert.equal(job.status, 'succeeded', `${job.op} ${job.target}: ${JSON.stringify(job.error)}`);
    return jobs.filter((j) => j.op === 'dns.records.apply');
  }

  async function records(zone: string, auth: Auth): Promise<Json[]> {
    const res = await call('GET', `/v1/dns/zones/${zone}/records`, undefined, auth);
    assert.equal(res.statusCode, 200, res.body);
    return res.json().items;
  }

  const sorted = async (lines: Promise<string[]>) => (await lines).sort();
  const OWN = ['@ MX 10 mail.shop.test.', '@ TXT "hello"', 'docs CNAME elsewhere.example.', 'mail A 10.9.9.9'];
  async function ownRecordsUntouched(): Promise<void> {
    const own = (await records(ZONE, alice))
      .filter((r) => r.managedBy === null)
      .map((r) => `${r.name} ${r.type} ${r.rdata}`)
      .sort();
    assert.deepEqual(own, OWN);
    assert.deepEqual(await bind.dig(`mail.${ZONE}`, 'A'), ['10.9.9.9']);
    assert.deepEqual(await bind.dig(ZONE, 'MX'), ['10 mail.shop.test.']);
    assert.deepEqual(await bind.dig(ZONE, 'TXT'), ['"hello"']);
    assert.deepEqual(await bind.dig(`docs.${ZONE}`, 'CNAME'), ['elsewhere.example.']);
  }

  test("a proxy group's wildcard domain in the admin's zone answers with the group's addresses", async () => {
    await changed(await call('POST', '/v1/dns/zones', { name: ADMIN_ZONE }));
    const dns = await changed(await call('POST', '/v1/proxies', { name: 'p1', wildcardDomain: WILDCARD, addresses: ADDRESSES }));
    assert.equal(dns.length, 1, 'one dns.records.apply job for the wildcard');
    assert.deepEqual(await sorted(bind.dig(`anything.${WILDCARD}`, 'A')), ADDRESSES);
    assert.deepEqual(await sorted(bind.dig(`shop-alice.${WILDCARD}`, 'A')), ADDRESSES);
    assert.deepEqual(await sorted(bind.dig(WILDCARD, 'A')), ADDRESSES);
    const managed = (await records(ADMIN_ZONE, stack.auth)).filter((r) => r.managedBy);
    assert.deepEqual(managed.map((r) => `${r.name} ${r.rdata} ${r.managedBy.kind}:${r.managedBy.name}`).sort(), [
      '*.p1 192.0.2.10 proxy:p1',
      '*.p1 192.0.2.11 proxy:p1',
      'p1 192.0.2.10 proxy:p1',
      'p1 192.0.2.11 proxy:p1',
    ]);
  });

  test('a group whose wildcard is in no hosted zone gets no records, and one in a user zone is refused', async () => {
    const elsewhere = await call('POST', '/v1/proxies', { name: 'p2', wildcardDomain: 'p2.not-hosted.example', addresses: ['192.0.2.20'] });
    assert.deepEqual(await changed(elsewhere), []);
    await changed(await call('POST', '/v1/dns/zones', { name: 'bob-zone.test' }, bob), bob);
    const inUserZone = await call('POST', '/v1/proxies', { name: 'p3', wildcardDomain: 'p3.bob-zone.test', addresses: ['192.0.2.30'] });
    assert.equal(inUserZone.statusCode, 409, inUserZone.body);
    assert.match(inUserZone.json().message, /p3\.bob-zone\.test lies in DNS zone bob-zone\.test, which a user/);
    assert.equal((await call('GET', '/v1/proxies/p3')).statusCode, 404, 'nothing was created');
  });

  test("a site's domains in its owner's zone resolve to the proxy addresses", async () => {
    await changed(await call('POST', '/v1/dns/zones', { name: ZONE }, alice), alice);
    await changed(
      await call(
        'POST',
        `/v1/dns/zones/${ZONE}/records`,
        {
          records: [
            { name: 'mail', type: 'A', address: '10.9.9.9' },
            { name: '@', type: 'MX', preference: 10, exchange: 'mail.shop.test.' },
            { name: '@', type: 'TXT', text: 'hello' },
            { name: 'docs', type: 'CNAME', target: 'elsewhere.example.' },
          ],
        },
        alice,
      ),
      alice,
    );
    const dns = await changed(
      await call('POST', '/v1/websites', { name: 'shop', proxy: 'p1', domains: [`www.${ZONE}`, ZONE] }, alice),
      alice,
    );
    assert.equal(dns.length, 1);
    assert.equal(dns[0].result.changes, 4, 'two names, two addresses each, in one UPDATE');
    assert.deepEqual(await sorted(bind.dig(`www.${ZONE}`, 'A')), ADDRESSES);
    assert.deepEqual(await sorted(bind.dig(ZONE, 'A')), ADDRESSES);
    const managed = (await records(ZONE, alice)).filter((r) => r.managedBy);
    assert.equal(managed.length, 4);
    assert.ok(managed.every((r) => r.managedBy.kind === 'website' && r.managedBy.name === 'shop' && r.ttl === 300));
    await ownRecordsUntouched();
  });

  test('a managed record is not edited, deleted or shadowed by hand: 409 naming the site', async () => {
    const www = (await records(ZONE, alice)).find((r) => r.name === 'www')!;
    for (const res of [
      await call('PATCH', `/v1/dns/zones/${ZONE}/records/${www.id}`, { address: '10.6.6.6' }, alice),
      await call('DELETE', `/v1/dns/zones/${ZONE}/records/${www.id}`, undefined, alice),
      await call('POST', `/v1/dns/zones/${ZONE}/records`, { name: 'www', type: 'A', address: '10.6.6.6', ttl: 300 }, alice),
    ]) {
      assert.equal(res.statusCode, 409, res.body);
      assert.match(res.json().message, /website shop/);
    }
    assert.deepEqual(await sorted(bind.dig(`www.${ZONE}`, 'A')), ADDRESSES);
  });

  test('editing the domains replaces the records: old names gone, new ones present', async () => {
    const dns = await changed(await call('PATCH', '/v1/websites/shop', { domains: [ZONE, `blog.${ZONE}`] }, alice), alice);
    assert.equal(dns.length, 1);
    assert.equal(dns[0].result.changes, 4, 'only what changed: www goes, blog comes; the apex stays');
    assert.deepEqual(await bind.dig(`www.${ZONE}`, 'A'), []);
    assert.deepEqual(await sorted(bind.dig(`blog.${ZONE}`, 'A')), ADDRESSES);
    assert.deepEqual(await sorted(bind.dig(ZONE, 'A')), ADDRESSES);
    const unrelated = await changed(await call('PATCH', '/v1/websites/shop', { maxBodySize: '20m' }, alice), alice);
    assert.deepEqual(unrelated, [], 'an edit that keeps the domains sends no DNS change');
    await ownRecordsUntouched();
  });

  test('a domain that already has an address or a CNAME in the zone is refused with 409 naming it', async () => {
    for (const name of [`mail.${ZONE}`, `docs.${ZONE}`]) {
      const res = await call('POST', '/v1/websites', { name: 'other', proxy: 'p1', domains: [name] }, alice);
      assert.equal(res.statusCode, 409, res.body);
      assert.match(res.json().message, new RegExp(`${name.replace(/\./g, '\\.')} already has a (A|CNAME) record`));
      const edit = await call('PATCH', '/v1/websites/shop', { domains: [ZONE, name] }, alice);
      assert.equal(edit.statusCode, 409, edit.body);
    }
    assert.equal((await call('GET', '/v1/websites/other', undefined, alice)).statusCode, 404);
    assert.deepEqual(
      (await call('GET', '/v1/websites/shop', undefined, alice)).json().domains,
      [ZONE, `blog.${ZONE}`],
      'the refused edit changed nothing',
    );
    await ownRecordsUntouched();
  });

  test("a domain in another user's zone is refused; one in a zone not hosted here is left to its owner", async () => {
    const foreign = await call('POST', '/v1/websites', { name: 'steal', proxy: 'p1', domains: [`shop-copy.${ZONE}`] }, bob);
    assert.equal(foreign.statusCode, 409, foreign.body);
    assert.match(foreign.json().message, /shop-copy\.shop\.test lies in DNS zone shop\.test, which another user hosts/);
    assert.deepEqual(await bind.dig(`shop-copy.${ZONE}`, 'A'), []);
    const outside = await call('POST', '/v1/websites', { name: 'bobsite', proxy: 'p1', domains: ['www.bob.example.org'] }, bob);
    assert.deepEqual(await changed(outside, bob), [], 'no DNS job for a zone not hosted here');
    await changed(await call('DELETE', '/v1/websites/bobsite', undefined, bob), bob);
  });

  test('a zone created after the site or the group starts with their records (A and AAAA)', async () => {
    const group = await call('POST', '/v1/proxies', {
      name: 'p4',
      wildcardDomain: 'p4.later-admin.test',
      addresses: ['192.0.2.40', '2001:db8::40'],
    });
    assert.deepEqual(await changed(group), [], 'no zone for the wildcard yet');
    const site = await call('POST', '/v1/websites', { name: 'later', proxy: 'p4', domains: ['www.later.test'] }, alice);
    assert.deepEqual(await changed(site, alice), [], 'no zone for the domain yet');
    await changed(await call('POST', '/v1/dns/zones', { name: 'later.test' }, alice), alice);
    assert.deepEqual(await bind.dig('www.later.test', 'A'), ['192.0.2.40']);
    assert.deepEqual(await bind.dig('www.later.test', 'AAAA'), ['2001:db8::40']);
    assert.deepEqual(
      (await records('later.test', alice)).map((r) => `${r.name} ${r.type} ${r.managedBy?.kind}:${r.managedBy?.name}`).sort(),
      ['www A website:later', 'www AAAA website:later'],
    );
    await changed(await call('POST', '/v1/dns/zones', { name: 'later-admin.test' }));
    assert.deepEqual(await bind.dig('anything.p4.later-admin.test', 'A'), ['192.0.2.40']);
    assert.deepEqual(await bind.dig('p4.later-admin.test', 'AAAA'), ['2001:db8::40']);
    await changed(await call('DELETE', '/v1/websites/later', undefined, alice), alice);
    assert.deepEqual(await bind.dig('www.later.test', 'A'), []);
    assert.deepEqual(await records('later.test', alice), []);
  });

  test('deleting the site removes its records and nothing else; the server matches PostgreSQL', async () => {
    const dns = await changed(await call('DELETE', '/v1/websites/shop', undefined, alice), alice);
    assert.equal(dns.length, 1);
    assert.deepEqual(await bind.dig(ZONE, 'A'), []);
    assert.deepEqual(await bind.dig(`blog.${ZONE}`, 'A'), []);
    assert.equal((await records(ZONE, alice)).filter((r) => r.managedBy).length, 0);
    await ownRecordsUntouched();
    assert.deepEqual(await sorted(bind.dig(`anything.${WILDCARD}`, 'A')), ADDRESSES, 'the wildcard stays');
    for (const [zone, auth] of [
      [ZONE, alice],
      [ADMIN_ZONE, stack.auth],
      ['later.test', alice],
      ['later-admin.test', stack.auth],
    ] as const) {
      const job = await finished((await call('POST', `/v1/dns/zones/${zone}/verify`, { repair: false }, auth)).json().id, auth);
      assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
      assert.deepEqual([job.result.missing, job.result.unexpected], [[], []], `${zone} on the server is what PostgreSQL says`);
    }
  });
});
