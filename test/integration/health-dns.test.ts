/**
 * DNS zones are checked like every deployed resource: a record changed behind up's back
 * (nsupdate straight to BIND) makes the zone degraded, the health daemon repairs it with
 * dns.zone.verify (repair on) as a job, and the zone is healthy again.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { v7 } from 'uuid';
import { axfr } from '../../lib/dns/client.ts';
import { labBind, tsigKeysDir, type LabBind } from '../helpers/bind.ts';
import { startStack } from '../helpers/stack.ts';
import { eventually } from '../helpers/eventually.ts';

const run = promisify(execFile);
const ZONE = 'healthy.test';
type Json = Record<string, any>;

describe('DNS zone health: drift is repaired', { timeout: 180_000 }, () => {
  let bind: LabBind;
  let stack: Awaited<ReturnType<typeof startStack>>;
  let keys: Awaited<ReturnType<typeof tsigKeysDir>>;

  const call = (method: 'GET' | 'POST', url: string, body?: unknown) =>
    stack.app!.inject({ method, url, payload: body as never, headers: stack.auth });
  const get = async (url: string) => (await call('GET', url)).json() as Json;
  const zoneHealth = async () => ((await get('/v1/health?type=dns-zone&history=true')).items as Json[])[0];

  async function done(res: { statusCode: number; json(): Json; body: string }) {
    assert.equal(res.statusCode, 202, res.body);
    const id = res.json().id ?? res.json().job?.id;
    for (;;) {
      const job = (await call('GET', `/v1/jobs/${id}?waitMs=15000`)).json();
      if (!['accepted', 'queued', 'running', 'retrying'].includes(job.status)) return job;
    }
  }

  const until = <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000) =>
    eventually(what, probe, { timeoutMs, explain: async () => `zone health: ${JSON.stringify(await zoneHealth())}` });

  before(async () => {
    bind = await labBind();
    keys = await tsigKeysDir(bind.key.name, bind.key.secret);
    process.env.UP_TSIG_KEYS_DIR = keys.dir;
    stack = await startStack({ env: { UP_HEALTH_INTERVAL_MS: '1000' } });
    // The DNS server's host is this machine, in maintenance: only the zone is checked here.
    await stack.database!.knex('hosts').insert({
      id: v7(),
      name: 'dns1',
      address: '127.0.0.1',
      port: 22,
      ssh_user: 'root',
      host_key_sha256: `SHA256:${'A'.repeat(43)}`,
      local: true,
      maintenance: true,
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
      await call('POST', `/v1/dns/zones/${ZONE}/records`, { records: [{ name: 'www', type: 'A', address: '10.0.0.1', ttl: 300 }] }),
    );
    assert.equal(added.status, 'succeeded', JSON.stringify(added.error));
  });

  after(async () => {
    await stack?.shutdown();
    await bind?.down();
    await keys?.remove();
    delete process.env.UP_TSIG_KEYS_DIR;
  });

  test('a zone in step with its records is healthy', async () => {
    const entry = await until('the zone healthy', async () => (await zoneHealth())?.state === 'healthy' && zoneHealth());
    assert.equal(entry.resource.key, ZONE);
  });

  test('a record added behind our back: degraded, repaired by dns.zone.verify as a job, healthy; the server no longer has it', async () => {
    const seen = (await zoneHealth()).history.length;
    const secret = `${bind.key.algorithm}:${bind.key.name}:${bind.key.secret.toString('base64')}`;
    const child = run('nsupdate', ['-y', secret]);
    child.child.stdin!.end(
      [`server ${bind.server.address} ${bind.server.port}`, `zone ${ZONE}`, `update add rogue.${ZONE} 60 A 192.0.2.66`, 'send', ''].join(
        '\n',
      ),
    );
    await child;

    const entry = await until('healthy again', async () => {
      const now = await zoneHealth();
      return now.state === 'healthy' && now.history.length > seen && now;
    });
    const states = entry.history
      .map((h: Json) => h.state)
      .reverse()
      .slice(seen - 1);
    assert.deepEqual(states, ['healthy', 'degraded', 'repairing', 'healthy']);
    assert.match(
      entry.history[2].note,
      /zone healthy\.test as served differs from its records: 1 unexpected \(rogue\.healthy\.test A 192\.0\.2\.66\)/,
    );
    const repairs = (await get('/v1/jobs?op=dns.zone.verify')).items as Json[];
    assert.equal(repairs.length, 1);
    assert.equal(repairs[0].status, 'succeeded');
    assert.equal(repairs[0].result.repaired, true);
    const served = await axfr(bind.server, ZONE, bind.key, { timeoutMs: 5_000 });
    assert.equal(served.filter((r) => r.name.startsWith('rogue.')).length, 0);
    assert.deepEqual((await get('/v1/alarms?status=all')).items, []);
  });
});
