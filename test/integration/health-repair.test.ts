/**
 * The health daemon repairs what it deploys, on real nginx in a lab host: a stopped nginx is
 * started again, a vhost deleted behind up's back comes back, and a proxy that cannot be
 * repaired raises exactly one alarm, delivered once to a webhook, cleared when healthy again.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { labHosts, type Lab } from '../helpers/lab-hosts.ts';
import { curlSite, labNginx, type LabNginx } from '../helpers/lab-nginx.ts';
import { runUp } from '../helpers/processes.ts';
import { startStack, TEST_TOKEN } from '../helpers/stack.ts';
import { isolateSubids, removeUnixUsers } from '../helpers/unix-users.ts';
import { eventually } from '../helpers/eventually.ts';
import { webhookReceiver } from '../helpers/webhook.ts';

const run = promisify(execFile);
const LAB = { prefix: 'up-hc', subnet: '10.77.11', bridge: 'uplab11' };
const PORT = 80;
const WILDCARD = 'hc.web.test';
const PAGE = '<h1>repaired shop</h1>\n';

type Json = Record<string, any>;

describe('health checks repair proxies and websites', { timeout: 240_000 }, () => {
  let lab: Lab;
  let nginx: LabNginx;
  let stack: Awaited<ReturnType<typeof startStack>>;
  let webhook: Awaited<ReturnType<typeof webhookReceiver<{ event: string; alarm: Json }>>>;
  let contentDir: string;
  let aliceToken: string;

  const api = async (method: string, url: string, body?: unknown, token = TEST_TOKEN) => {
    const res = await fetch(`${stack.url}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined
          ? {}
          : Buffer.isBuffer(body)
            ? { 'content-type': 'application/gzip' }
            : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
  };
  const get = async (url: string, token = TEST_TOKEN) => (await api('GET', url, undefined, token)).body;
  const health = async (type: string) => (await get(`/v1/health?type=${type}&history=true`)).items[0] as Json | undefined;
  /**
   * When the resource last changed state: the mark a test takes before it breaks something.
   * A check is dated when it started looking, so one that began just before the break and saw it
   * is dated earlier than any clock reading the test could take; the last transition is not.
   */
  const lastTransition = async (type: string): Promise<string> => (await health(type))!.history[0].at;
  /** The states since the transition at `mark`, oldest first, led by that one. */
  const statesSince = (entry: Json, mark: string) =>
    [...entry.history]
      .reverse()
      .filter((h: Json) => h.at >= mark)
      .map((h: Json) => h.state);
  const site = () => curlSite(`shop-hcalice.${WILDCARD}`, lab.hosts[0].address, PORT);

  const until = <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000) =>
    eventually(what, probe, {
      timeoutMs,
      explain: async () => `health: ${JSON.stringify((await get('/v1/health')).items.map((h: Json) => [h.resource, h.state, h.problems]))}`,
    });

  async function succeeded(response: { status: number; body: Json }, token = TEST_TOKEN): Promise<Json> {
    assert.equal(response.status, 202, JSON.stringify(response.body));
    for (const job of response.body.jobs) {
      const done = (await api('GET', `/v1/jobs/${job.id}?waitMs=20000`, undefined, token)).body;
      assert.equal(done.status, 'succeeded', `${done.op}: ${JSON.stringify(done.error)}`);
    }
    return response.body;
  }

  /** Healthy, and everything its history says since it was last healthy, oldest first. */
  const healthyAgain = (type: string, mark: string) =>
    until(
      `${type} healthy again`,
      async () => {
        const entry = await health(type);
        return entry && entry.state === 'healthy' && entry.history.some((h: Json) => h.at > mark) && entry;
      },
      40_000,
    );

  before(async () => {
    // up creates up-hcalice with the site (tenant.provision); /etc/passwd is this machine's.
    await removeUnixUsers(['hcalice']);
    lab = await labHosts(1, LAB);
    [nginx] = await labNginx(lab.hosts, PORT);
    webhook = await webhookReceiver<{ event: string; alarm: Json }>();
    process.env.UP_SSH_KEY_FILE = lab.hosts[0].privateKeyFile;
    contentDir = mkdtempSync(join(tmpdir(), 'up-hc-content-'));
    process.env.UP_CONTENT_DIR = contentDir;
    stack = await startStack({
      env: { UP_HEALTH_INTERVAL_MS: '1000', UP_ALARM_WEBHOOK_URL: webhook.url },
    });
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
        // The test machine is busy and shared: judge this host by what the test breaks.
        'health.load-per-cpu': '1000',
        'health.disk-percent': '100',
        'health.memory-percent': '100',
        'health.auth-log': h.logFile,
        'health.tenant-homes': `${h.dir}/home`,
        'health.security-updates': 'off',
      }),
    });
    const alice = (await createUser(db, { name: 'hcalice', role: 'user' }))!;
    await isolateSubids(db, ['hcalice']);
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

    await succeeded(await api('POST', '/v1/proxies', { name: 'p1', wildcardDomain: WILDCARD, addresses: ['192.0.2.10'], httpPort: PORT }));
    await succeeded(await api('POST', '/v1/proxies/p1/hosts', { host: h.name, baseDir: nginx.dir }));
    await succeeded(await api('POST', '/v1/websites', { name: 'shop', proxy: 'p1' }, aliceToken), aliceToken);
    const dir = mkdtempSync(join(tmpdir(), 'up-hc-site-'));
    writeFileSync(join(dir, 'index.html'), PAGE);
    const { stdout } = await run('sh', ['-c', 'tar --format=ustar -czf - -C "$1" . | base64 -w0', 'sh', dir]);
    rmSync(dir, { recursive: true });
    await succeeded(await api('POST', '/v1/websites/shop/content', Buffer.from(stdout, 'base64'), aliceToken), aliceToken);
  });

  after(async () => {
    await stack?.shutdown();
    webhook?.close();
    await nginx?.down().catch(() => undefined);
    await lab?.down();
    await removeUnixUsers(['hcalice']);
    if (contentDir) rmSync(contentDir, { recursive: true, force: true });
    delete process.env.UP_CONTENT_DIR;
  });

  test('the host, its security, the proxy member and the website are checked and healthy', async () => {
    for (const type of ['host', 'security', 'proxy', 'website']) {
      const entry = await until(`${type} healthy`, async () => (await health(type))?.state === 'healthy' && health(type));
      assert.deepEqual(entry.problems, [], type);
    }
    assert.equal((await health('proxy'))!.resource.key, `p1@${lab.hosts[0].name}`);
    assert.equal((await health('website'))!.resource.key, `shop-hcalice@${lab.hosts[0].name}`);
    assert.deepEqual(await site(), { status: 200, body: PAGE });
  });

  test('nginx stopped behind our back: degraded, repaired by a job (nginx started), healthy', async () => {
    const mark = await lastTransition('proxy');
    await nginx.down();
    assert.equal((await site().catch(() => ({ status: 0 }))).status, 0, 'nothing answers while nginx is down');

    const entry = await healthyAgain('proxy', mark);
    assert.deepEqual(statesSince(entry, mark), ['healthy', 'degraded', 'repairing', 'healthy']);
    assert.match(entry.history[1].note, /repair job .* \(health\.repair\.proxy\)/);
    const cli = await runUp(['health', '--type', 'proxy', '--history'], { UP_URL: stack.url!, UP_TOKEN: TEST_TOKEN });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /proxy\/p1@up-hc-h1 +healthy .*healthy → degraded → repairing → healthy/);
    const repairs = (await get('/v1/jobs?op=health.repair.proxy')).items;
    assert.equal(repairs.length, 1, 'one repair for one episode');
    assert.equal(repairs[0].status, 'succeeded');
    assert.equal(repairs[0].result.started, true, 'the repair started nginx');
    assert.deepEqual(await site(), { status: 200, body: PAGE });
    // The site was down too, but that is the proxy's to repair and alarm: no repair of its own.
    const siteEntry = await until(
      'the site healthy again',
      async () => (await health('website'))?.state === 'healthy' && health('website'),
    );
    assert.deepEqual(
      siteEntry.history
        .slice(0, 2)
        .map((h: Json) => h.state)
        .reverse(),
      ['degraded', 'healthy'],
    );
    assert.match(
      siteEntry.history[1].note,
      /nginx of proxy group p1 is not running on up-hc-h1, so shop-hcalice\.hc\.web\.test is not served there/,
    );
    assert.equal((await get('/v1/jobs?op=health.repair.website')).items.length, 0);
    assert.deepEqual((await get('/v1/alarms?status=all')).items, []);
  });

  test('a vhost deleted behind our back is put back by a repair job its owner sees; the site answers again', async () => {
    const mark = await lastTransition('website');
    unlinkSync(`${nginx.dir}/vhosts/shop-hcalice.conf`);
    await run('sh', ['-c', 'kill -HUP "$(cat "$1")"', 'sh', `${nginx.dir}/nginx.pid`]);
    await until('the default server answering', async () => (await site()).status === 404);

    const entry = await healthyAgain('website', mark);
    assert.deepEqual(statesSince(entry, mark), ['healthy', 'degraded', 'repairing', 'healthy']);
    assert.match(entry.history[2].note, /vhost of shop-hcalice\.hc\.web\.test on up-hc-h1 is missing/);
    assert.deepEqual(await site(), { status: 200, body: PAGE });
    assert.deepEqual((await get('/v1/alarms?status=all')).items, [], 'repaired in time: no alarm');

    // Alice's site: she sees its health and the repair job, not the proxy's.
    const hers = (await get('/v1/health', aliceToken)).items;
    assert.deepEqual(
      hers.map((h: Json) => h.resource.type),
      ['website'],
    );
    const cli = await runUp(['jobs', 'list', '--json'], { UP_URL: stack.url!, UP_TOKEN: aliceToken });
    assert.equal(cli.code, 0, cli.stderr);
    const repair = JSON.parse(cli.stdout).items.find((j: Json) => j.op === 'health.repair.website');
    assert.equal(repair?.status, 'succeeded');
    assert.equal(repair.target, `website/shop@${lab.hosts[0].name}`);
  });

  test('a proxy that cannot be repaired: exactly one alarm, delivered once, counted, cleared when healthy', async () => {
    const broken = `${nginx.dir}/vhosts/zz-broken.conf`;
    const mark = await lastTransition('proxy');
    writeFileSync(broken, 'this is not nginx configuration;\n');
    await nginx.down();

    const alarm = await until('the alarm', async () => (await get('/v1/alarms')).items[0] as Json | undefined);
    assert.equal(alarm.resource.type, 'proxy');
    assert.equal(alarm.cause, 'nginx-stopped');
    assert.match(alarm.message, /nginx of proxy group p1 is not running on up-hc-h1 \(nginx -t fails on up-hc-h1: .*zz-broken\.conf/);
    const entry = (await health('proxy'))!;
    assert.deepEqual(statesSince(entry, mark), ['healthy', 'degraded', 'repairing', 'failed']);
    const repairs = (await get('/v1/jobs?op=health.repair.proxy')).items;
    assert.equal(repairs.length, 2, 'one more repair for this episode, and only one');
    assert.equal(repairs[0].status, 'failed');
    assert.match(repairs[0].error.message, /nginx rejected the configuration/);
    // Walk friction 5: the alarm says why the repair failed and how to run it again.
    const firstLine = repairs[0].error.message.split('\n', 1)[0];
    assert.ok(
      alarm.message.endsWith(
        `; repair job ${repairs[0].id} failed: ${firstLine}; \`up jobs retry ${repairs[0].id}\` once the cause is gone`,
      ),
      alarm.message,
    );

    await until('more failing checks', async () => (await get('/v1/alarms')).items[0].count >= alarm.count + 2);
    const open = (await get('/v1/alarms')).items;
    assert.equal(open.length, 1, 'still exactly one alarm');
    assert.equal((await get('/v1/jobs?op=health.repair.proxy')).items.length, 2, 'no repair is retried within the episode');
    await until('the webhook delivery', async () => webhook.received.length >= 1);
    await sleep(1_500);
    assert.deepEqual(
      webhook.received.map((r) => [r.event, r.alarm.cause]),
      [['raised', 'nginx-stopped']],
      'the webhook got it once',
    );

    // The operator removes the foreign file and starts nginx: healthy, the alarm clears, the webhook hears it.
    unlinkSync(broken);
    await labNginx(lab.hosts, PORT);
    await until('the cleared alarm', async () => (await get('/v1/alarms')).items.length === 0, 40_000);
    await until('the cleared delivery', async () => webhook.received.length >= 2);
    assert.deepEqual(
      webhook.received.map((r) => r.event),
      ['raised', 'cleared'],
    );
    assert.equal((await health('proxy'))!.state, 'healthy');
    assert.deepEqual(await site(), { status: 200, body: PAGE });

    // Nothing else was ever alarmed: not the site behind the stopped nginx, not the host.
    const all = (await get('/v1/alarms?status=all')).items;
    assert.deepEqual(
      all.map((a: Json) => [a.resource.type, a.cause, a.status]),
      [['proxy', 'nginx-stopped', 'cleared']],
    );
    const cli = await runUp(['alarms', 'list', '--json'], { UP_URL: stack.url!, UP_TOKEN: TEST_TOKEN });
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(JSON.parse(cli.stdout).items, []);
  });

  test('a deleted site is no longer checked: its health is forgotten', async () => {
    await succeeded(await api('DELETE', '/v1/websites/shop', undefined, aliceToken), aliceToken);
    await until('the site forgotten', async () => (await health('website')) === undefined);
    assert.equal((await health('proxy'))!.state, 'healthy');
  });
});
