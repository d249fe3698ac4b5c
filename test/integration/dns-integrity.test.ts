import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { v7 } from 'uuid';
import { recordRow } from '../../gateway/dns/store.ts';
import { presentValue, validateRecord } from '../../lib/dns/validate.ts';
import { labBind, tsigKeysDir, type LabBind } from '../helpers/bind.ts';
import { startStack } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
type Json = Record<string, any>;
const ZONE = 'integrity.test';
const run = promisify(execFile);

/**
 * BIND's integrity checks (walk bug 4): what it would refuse is refused by the API with the
 * field named; what it refuses anyway (a server that drifted) is rolled back and explained
 * correctly; and one refused record never keeps a repair from fixing the rest of the zone.
 */
describe('DNS records BIND would refuse: API checks, refusals explained, repairs not blocked', () => {
  let bind: LabBind;
  let stack: Stack;
  let keys: Awaited<ReturnType<typeof tsigKeysDir>>;

  before(async () => {
    bind = await labBind();
    keys = await tsigKeysDir(bind.key.name, bind.key.secret);
    process.env.UP_TSIG_KEYS_DIR = keys.dir;
    stack = await startStack();
    await stack.database!.knex('hosts').insert({
      id: v7(),
      name: 'dns1',
      address: '127.0.0.1',
      port: 22,
      ssh_user: 'root',
      host_key_sha256: `SHA256:${'A'.repeat(43)}`,
      local: true,
    });
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
    assert.equal((await done(await call('POST', '/v1/dns/zones', { name: ZONE }))).status, 'succeeded');
  });

  after(async () => {
    await stack?.shutdown();
    await bind?.down();
    await keys?.remove();
    delete process.env.UP_TSIG_KEYS_DIR;
  });

  function call(method: Method, url: string, body?: unknown) {
    return stack.app!.inject({ method, url, payload: body as never, headers: stack.auth });
  }

  async function done(res: { statusCode: number; json(): { id: string }; body: string }): Promise<Json> {
    assert.equal(res.statusCode, 202, res.body);
    for (;;) {
      const job = (await call('GET', `/v1/jobs/${res.json().id}?waitMs=15000`)).json();
      if (!['accepted', 'queued', 'running', 'retrying'].includes(job.status)) return job;
    }
  }

  const add = (body: Json) => call('POST', `/v1/dns/zones/${ZONE}/records`, body);
  const zone = async () => (await call('GET', `/v1/dns/zones/${ZONE}`)).json();
  const listed = async (): Promise<Json[]> => (await call('GET', `/v1/dns/zones/${ZONE}/records`)).json().items;
  const find = async (name: string, type: string, rdata?: string) =>
    (await listed()).find((r) => r.name === name && r.type === type && (rdata === undefined || r.rdata === rdata));

  function refused(res: { statusCode: number; json(): Json; body: string }, field: string, pattern: RegExp): void {
    assert.equal(res.statusCode, 400, res.body);
    assert.ok(res.json().message.startsWith(`${field} `), `names ${field}: ${res.json().message}`);
    assert.match(res.json().message, pattern);
  }

  async function nsupdate(lines: string[]): Promise<void> {
    const secret = `${bind.key.algorithm}:${bind.key.name}:${bind.key.secret.toString('base64')}`;
    const child = run('nsupdate', ['-y', secret]);
    child.child.stdin!.end([`server ${bind.server.address} ${bind.server.port}`, `zone ${ZONE}`, ...lines, 'send', ''].join('\n'));
    await child;
  }

  test('an MX, SRV or NS whose in-zone target has no address is refused with the field named; nothing is stored', async () => {
    refused(
      await add({ name: '@', type: 'MX', preference: 10, exchange: `mx.${ZONE}` }),
      'body/exchange',
      /mx\.integrity\.test .*no A or AAAA/,
    );
    refused(await add({ name: '@', type: 'MX', preference: 10, exchange: 'MX.Integrity.Test.' }), 'body/exchange', /no A or AAAA/);
    refused(await add({ name: '@', type: 'MX', preference: 10, exchange: '@' }), 'body/exchange', /integrity\.test lies in the zone/);
    refused(
      await add({ name: '_sip._tcp', type: 'SRV', priority: 1, weight: 5, port: 5060, target: `sip.${ZONE}` }),
      'body/target',
      /sip\.integrity\.test .*no A or AAAA.*SRV/,
    );
    refused(await add({ name: 'sub', type: 'NS', target: `ns.sub.${ZONE}` }), 'body/target', /ns\.sub\.integrity\.test .*NS/);
    refused(await add({ name: 'other', type: 'NS', target: `ns9.${ZONE}` }), 'body/target', /ns9\.integrity\.test/);
    // In a batch the field is the record's own, and one bad record refuses the whole request.
    refused(
      await add({
        records: [
          { name: 'ok', type: 'TXT', text: 'fine' },
          { name: '@', type: 'MX', preference: 20, exchange: `mail.${ZONE}` },
        ],
      }),
      'body/records/1/exchange',
      /mail\.integrity\.test/,
    );
    assert.deepEqual(await listed(), []);
    assert.deepEqual(await bind.dig(ZONE, 'MX'), []);
  });

  test('an MX pointing at a CNAME is refused; targets outside the zone, under a delegation, or at the nameserver are fine', async () => {
    assert.equal((await done(await add({ name: 'alias', type: 'CNAME', target: 'elsewhere.example.' }))).status, 'succeeded');
    refused(await add({ name: '@', type: 'MX', preference: 10, exchange: `alias.${ZONE}` }), 'body/exchange', /is a CNAME/);
    refused(
      await add({ name: '_x._tcp', type: 'SRV', priority: 1, weight: 1, port: 1, target: `alias.${ZONE}` }),
      'body/target',
      /is a CNAME/,
    );
    const job = await done(
      await add({
        records: [
          { name: '@', type: 'MX', preference: 30, exchange: 'mx.example.net' },
          { name: 'deleg', type: 'NS', target: 'ns.elsewhere.example' },
          { name: 'm', type: 'MX', preference: 5, exchange: `mail.deleg.${ZONE}` },
          { name: 'ns', type: 'MX', preference: 5, exchange: `ns1.${ZONE}` },
        ],
      }),
    );
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.deepEqual(await bind.dig(`ns.${ZONE}`, 'MX'), [`5 ns1.${ZONE}.`]);
  });

  test('with its address (before, or in the same request) the record is accepted and served', async () => {
    const batch = await done(
      await add({
        records: [
          { name: '@', type: 'MX', preference: 10, exchange: `mail.${ZONE}` },
          { name: 'mail', type: 'A', address: '192.0.2.25' },
          { name: '_sip._tcp', type: 'SRV', priority: 1, weight: 5, port: 5060, target: `sip.${ZONE}` },
          { name: 'sip', type: 'AAAA', address: '2001:db8::5' },
          { name: 'sub', type: 'NS', target: `ns.sub.${ZONE}` },
          { name: 'ns.sub', type: 'A', address: '192.0.2.53' },
        ],
      }),
    );
    assert.equal(batch.status, 'succeeded', JSON.stringify(batch.error));
    assert.deepEqual((await bind.dig(ZONE, 'MX')).sort(), [`10 mail.${ZONE}.`, '30 mx.example.net.']);
    assert.deepEqual(await bind.dig(`_sip._tcp.${ZONE}`, 'SRV'), [`1 5 5060 sip.${ZONE}.`]);
    assert.equal((await zone()).status, 'active');
  });

  test('deleting or moving the address an MX, SRV or NS needs is refused; another address of the name may go', async () => {
    const mail = await find('mail', 'A');
    refused(await call('DELETE', `/v1/dns/zones/${ZONE}/records/${mail!.id}`), 'params/id', /last address of mail\.integrity\.test.*MX/);
    refused(
      await call('DELETE', `/v1/dns/zones/${ZONE}/records/${(await find('sip', 'AAAA'))!.id}`),
      'params/id',
      /sip\.integrity\.test.*SRV/,
    );
    refused(await call('DELETE', `/v1/dns/zones/${ZONE}/records/${(await find('ns.sub', 'A'))!.id}`), 'params/id', /NS/);
    // Pointing the MX elsewhere in the zone, at a name without an address, is the same mistake.
    const mx = await find('@', 'MX', `10 mail.${ZONE}.`);
    refused(await call('PATCH', `/v1/dns/zones/${ZONE}/records/${mx!.id}`, { exchange: `nomail.${ZONE}` }), 'body/exchange', /nomail/);
    // Changing the address itself is fine (the name keeps one).
    assert.equal(
      (await done(await call('PATCH', `/v1/dns/zones/${ZONE}/records/${mail!.id}`, { address: '192.0.2.26' }))).status,
      'succeeded',
    );
    // A second address makes the first one deletable.
    assert.equal((await done(await add({ name: 'mail', type: 'AAAA', address: '2001:db8::25' }))).status, 'succeeded');
    assert.equal((await done(await call('DELETE', `/v1/dns/zones/${ZONE}/records/${mail!.id}`))).status, 'succeeded');
    refused(await call('DELETE', `/v1/dns/zones/${ZONE}/records/${(await find('mail', 'AAAA'))!.id}`), 'params/id', /MX/);
    // Once the MX is gone, so may its address be.
    assert.equal((await done(await call('DELETE', `/v1/dns/zones/${ZONE}/records/${mx!.id}`))).status, 'succeeded');
    assert.equal(
      (await done(await call('DELETE', `/v1/dns/zones/${ZONE}/records/${(await find('mail', 'AAAA'))!.id}`))).status,
      'succeeded',
    );
    assert.deepEqual(await bind.dig(ZONE, 'MX'), ['30 mx.example.net.']);
  });

  test('a change the server still refuses is explained as such (not as a key problem) and does not stay listed', async () => {
    // The API has an address for relay, the server lost it behind up's back: only the server can tell.
    assert.equal((await done(await add({ name: 'relay', type: 'A', address: '192.0.2.30' }))).status, 'succeeded');
    await nsupdate([`update delete relay.${ZONE} A`]);
    const job = await done(await add({ name: '@', type: 'MX', preference: 40, exchange: `relay.${ZONE}` }));
    assert.equal(job.status, 'failed');
    assert.equal(job.error.code, 'REFUSED');
    assert.doesNotMatch(job.error.message, /unsigned request|key is not allowed/);
    assert.match(job.error.message, /accepted the key .* refused the change/);
    assert.match(job.error.message, /integrity\.test MX → relay\.integrity\.test: the target has no A or AAAA record/);
    // Rolled back: the list says what the server has.
    for (let i = 0; i < 100 && (await find('@', 'MX', `40 relay.${ZONE}.`)); i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await find('@', 'MX', `40 relay.${ZONE}.`), undefined);
    const z = await zone();
    assert.equal(z.status, 'error');
    assert.match(z.statusMessage, /not applied, so up no longer has it: integrity\.test MX 40 relay\.integrity\.test\. removed/);
    // The key was fine all along: the zone's other changes go through.
    assert.equal((await done(await add({ name: '@', type: 'TXT', text: 'still works' }))).status, 'succeeded');
    assert.equal((await zone()).status, 'active');
  });

  test('a repair applies everything the server accepts and names the record it refuses', async () => {
    // A record stored before the API checked (or by another path), which BIND refuses.
    const db = stack.database!.knex;
    const zoneId = (await db('dns_zones').where({ name: ZONE }).first()).id;
    const spec = validateRecord({ name: '@', type: 'MX', preference: 50, exchange: `ghost.${ZONE}` }, ZONE, 'body');
    await db('dns_records').insert(recordRow(zoneId, spec, presentValue(spec)));
    // And drift elsewhere in the zone: relay's address (up has it) gone, a rogue record planted.
    await nsupdate([`update add rogue.${ZONE} 60 A 10.6.6.6`]);
    assert.deepEqual(await bind.dig(`relay.${ZONE}`, 'A'), []);

    const repair = await done(await call('POST', `/v1/dns/zones/${ZONE}/verify`, { repair: true }));
    assert.equal(repair.status, 'succeeded', JSON.stringify(repair.error));
    assert.equal(repair.result.repaired, true);
    assert.deepEqual(
      repair.result.refused.map((d: Json) => `${d.name} ${d.type} ${d.value}`),
      [`${ZONE} MX 50 ghost.${ZONE}.`],
    );
    assert.deepEqual(await bind.dig(`relay.${ZONE}`, 'A'), ['192.0.2.30'], 'the missing address is back');
    assert.deepEqual(await bind.dig(`rogue.${ZONE}`, 'A'), [], 'the rogue record is gone');
    assert.deepEqual((await bind.dig(ZONE, 'MX')).sort(), ['30 mx.example.net.'], 'the rest of the MX RRset is as up has it');
    const z = await zone();
    assert.equal(z.status, 'error');
    assert.match(z.statusMessage, /refused 1 record\(s\) up has, so they are not served: integrity\.test MX 50 ghost\.integrity\.test\./);

    // A verify now reports only that record; deleting it makes the zone consistent again.
    const report = await done(await call('POST', `/v1/dns/zones/${ZONE}/verify`, {}));
    assert.deepEqual([report.result.missing.map((d: Json) => d.value), report.result.unexpected], [[`50 ghost.${ZONE}.`], []]);
    const ghost = await find('@', 'MX', `50 ghost.${ZONE}.`);
    assert.equal((await done(await call('DELETE', `/v1/dns/zones/${ZONE}/records/${ghost!.id}`))).status, 'succeeded');
    const clean = await done(await call('POST', `/v1/dns/zones/${ZONE}/verify`, {}));
    assert.deepEqual([clean.result.missing, clean.result.unexpected], [[], []]);
    assert.equal((await zone()).status, 'active');
  });
});
