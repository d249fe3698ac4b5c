import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { v7 } from 'uuid';
import { sendUpdate } from '../../lib/dns/client.ts';
import { buildUpdate } from '../../lib/dns/update.ts';
import { labBind, tsigKeysDir, type LabBind } from '../helpers/bind.ts';
import { startStack } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
const ZONE = 'drift.test';
const run = promisify(execFile);

/** The server drifts (nsupdate behind our back, wrong keys): verify reports it, repair converges it, errors name the cause. */
describe('DNS zone verify and repair, and TSIG failures', () => {
  let bind: LabBind;
  let stack: Stack;
  let keys: Awaited<ReturnType<typeof tsigKeysDir>>;
  let keyFile: string;

  before(async () => {
    bind = await labBind();
    keys = await tsigKeysDir(bind.key.name, bind.key.secret);
    keyFile = join(keys.dir, bind.key.name);
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
    const added = await done(
      await call('POST', `/v1/dns/zones/${ZONE}/records`, {
        records: [
          { name: 'www', type: 'A', address: '10.0.0.1', ttl: 300 },
          { name: '@', type: 'TXT', text: 'hello' },
          { name: 'mail', type: 'MX', preference: 10, exchange: 'mx.example.net' },
        ],
      }),
    );
    assert.equal(added.status, 'succeeded', JSON.stringify(added.error));
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

  async function done(res: { statusCode: number; json(): { id: string }; body: string }) {
    assert.equal(res.statusCode, 202, res.body);
    for (;;) {
      const job = (await call('GET', `/v1/jobs/${res.json().id}?waitMs=15000`)).json();
      if (!['accepted', 'queued', 'running', 'retrying'].includes(job.status)) return job;
    }
  }

  const zone = async () => (await call('GET', `/v1/dns/zones/${ZONE}`)).json();
  const addRecord = (body: Record<string, unknown>) => call('POST', `/v1/dns/zones/${ZONE}/records`, body).then(done);

  async function nsupdate(lines: string[]): Promise<void> {
    const secret = `${bind.key.algorithm}:${bind.key.name}:${bind.key.secret.toString('base64')}`;
    const child = run('nsupdate', ['-y', secret]);
    child.child.stdin!.end([`server ${bind.server.address} ${bind.server.port}`, `zone ${ZONE}`, ...lines, 'send', ''].join('\n'));
    await child;
  }

  test('a zone in step with its records verifies clean', async () => {
    const job = await done(await call('POST', `/v1/dns/zones/${ZONE}/verify`, {}));
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.deepEqual([job.result.missing, job.result.unexpected, job.result.repaired], [[], [], false]);
    const z = await zone();
    assert.equal(z.status, 'active');
    assert.ok(z.verifiedAt);
  });

  test('a change behind our back is reported, then repaired', async () => {
    await nsupdate([
      `update delete www.${ZONE} A 10.0.0.1`,
      `update add www.${ZONE} 300 A 10.9.9.9`,
      `update add rogue.${ZONE} 60 A 10.6.6.6`,
      `update delete ${ZONE} TXT`,
      `update add ${ZONE} 3600 TXT "tampered"`,
    ]);
    assert.deepEqual(await bind.dig(`www.${ZONE}`, 'A'), ['10.9.9.9']);

    const report = await done(await call('POST', `/v1/dns/zones/${ZONE}/verify`, { repair: false }));
    assert.equal(report.status, 'succeeded', JSON.stringify(report.error));
    const show = (list: Array<{ name: string; type: string; value: string }>) => list.map((d) => `${d.name} ${d.type} ${d.value}`).sort();
    assert.deepEqual(show(report.result.missing), [`${ZONE} TXT "hello"`, `www.${ZONE} A 10.0.0.1`]);
    assert.deepEqual(show(report.result.unexpected), [`${ZONE} TXT "tampered"`, `rogue.${ZONE} A 10.6.6.6`, `www.${ZONE} A 10.9.9.9`]);
    assert.equal(report.result.repaired, false);
    const drifted = await zone();
    assert.equal(drifted.status, 'error');
    assert.match(drifted.statusMessage, /2 record\(s\) missing, 3 unexpected/);
    assert.deepEqual(await bind.dig(`www.${ZONE}`, 'A'), ['10.9.9.9'], 'a report alone changes nothing');

    const repair = await done(await call('POST', `/v1/dns/zones/${ZONE}/verify`, { repair: true }));
    assert.equal(repair.status, 'succeeded', JSON.stringify(repair.error));
    assert.equal(repair.result.repaired, true);
    assert.deepEqual(await bind.dig(`www.${ZONE}`, 'A'), ['10.0.0.1']);
    assert.deepEqual(await bind.dig(`rogue.${ZONE}`, 'A'), []);
    assert.deepEqual(await bind.dig(ZONE, 'TXT'), ['"hello"']);
    assert.deepEqual(await bind.dig(`mail.${ZONE}`, 'MX'), ['10 mx.example.net.'], 'what was right stays');

    const again = await done(await call('POST', `/v1/dns/zones/${ZONE}/verify`, {}));
    assert.deepEqual([again.result.missing, again.result.unexpected], [[], []]);
    assert.equal((await zone()).status, 'active');
  });

  test('a CNAME planted behind our back makes an add fail loudly instead of being dropped', async () => {
    await nsupdate([`update add cdn.${ZONE} 60 CNAME elsewhere.example.`]);
    const job = await addRecord({ name: 'cdn', type: 'A', address: '10.0.0.9' });
    assert.equal(job.status, 'failed');
    assert.equal(job.error.code, 'YXRRSET');
    assert.match(job.error.message, /CNAME at cdn\.drift\.test.*verify/);
    const repair = await done(await call('POST', `/v1/dns/zones/${ZONE}/verify`, { repair: true }));
    assert.equal(repair.status, 'succeeded');
    assert.deepEqual(await bind.dig(`cdn.${ZONE}`, 'A'), ['10.0.0.9'], 'repair converges to what the API holds');
  });

  test('a wrong TSIG secret is refused by the server, and the job says so', async () => {
    await writeFile(keyFile, Buffer.alloc(32, 7).toString('base64'), { mode: 0o600 });
    try {
      const job = await addRecord({ name: 'badsig', type: 'A', address: '10.0.0.2' });
      assert.equal(job.status, 'failed');
      assert.equal(job.error.code, 'NOTAUTH');
      assert.match(job.error.message, /BADSIG|wrong TSIG secret/);
      assert.deepEqual(await bind.dig(`badsig.${ZONE}`, 'A'), []);
      const z = await zone();
      assert.equal(z.status, 'error');
      assert.match(z.statusMessage, /wrong TSIG secret/);
    } finally {
      await writeFile(keyFile, bind.key.secret.toString('base64'), { mode: 0o600 });
    }
  });

  test('a key the server does not know is refused (BADKEY), an unsigned update too (REFUSED)', async () => {
    const db = stack.database!.knex;
    await writeFile(join(keys.dir, 'stranger'), bind.key.secret.toString('base64'), { mode: 0o600 });
    await db('dns_servers').where({ name: 'lab' }).update({ key_name: 'stranger' });
    try {
      const job = await addRecord({ name: 'badkey', type: 'A', address: '10.0.0.3' });
      assert.equal(job.status, 'failed');
      assert.match(job.error.message, /BADKEY|unknown TSIG key/);
    } finally {
      await db('dns_servers').where({ name: 'lab' }).update({ key_name: bind.key.name });
    }
    const unsigned = buildUpdate({
      zone: ZONE,
      changes: [{ op: 'add', record: { name: `unsigned.${ZONE}`, ttl: 60, type: 'A', address: '10.0.0.4' } }],
    });
    await assert.rejects(sendUpdate(bind.server, unsigned, null), { code: 'REFUSED' });
    assert.deepEqual(await bind.dig(`unsigned.${ZONE}`, 'A'), []);
  });

  test('a key file readable by others is refused, and no secret is ever in a job', async () => {
    await chmod(keyFile, 0o644);
    try {
      const job = await addRecord({ name: 'exposed', type: 'A', address: '10.0.0.5' });
      assert.equal(job.status, 'failed');
      assert.equal(job.error.code, 'TSIG_KEY_EXPOSED');
      assert.match(job.error.message, /chmod 600/);
    } finally {
      await chmod(keyFile, 0o600);
    }
    const everything =
      JSON.stringify(await stack.database!.knex('jobs').select('*')) +
      JSON.stringify(await stack.database!.knex('dns_servers').select('*'));
    assert.ok(!everything.includes(bind.key.secret.toString('base64')), 'the TSIG secret is in no job and no table');
  });
});
