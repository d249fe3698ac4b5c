/**
 * Security monitoring of a lab host: real failed SSH logins from the root namespace, a
 * listening port nobody explains, a world-writable file in a tenant home (repaired), pending
 * security updates; each an alarm naming what it found, cleared when it is gone.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parseUpgradable } from '../../handlers/hosts/host.update/apt-list.ts';
import { labHosts, type Lab, type LabHost } from '../helpers/lab-hosts.ts';
import { startStack, TEST_TOKEN } from '../helpers/stack.ts';
import { eventually } from '../helpers/eventually.ts';

const run = promisify(execFile);
const LAB = { prefix: 'up-hs', subnet: '10.77.14', bridge: 'uplab14' };

type Json = Record<string, any>;

describe('security monitoring of a host', { timeout: 180_000 }, () => {
  let lab: Lab;
  let host: LabHost;
  let stack: Awaited<ReturnType<typeof startStack>>;
  let listener: ChildProcess | undefined;

  const api = async (method: string, url: string, body?: unknown) => {
    const res = await stack.app!.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${TEST_TOKEN}` },
      ...(body === undefined ? {} : { payload: body as object }),
    });
    return { status: res.statusCode, body: res.json() as Json };
  };
  const get = async (url: string) => (await api('GET', url)).body;
  const alarm = async (cause: string) => ((await api('GET', '/v1/alarms')).body.items as Json[]).find((a) => a.cause === cause);
  const security = async () => ((await api('GET', '/v1/health?type=security&history=true')).body.items as Json[])[0];
  const label = async (labels: Record<string, string>) =>
    assert.equal((await api('PATCH', `/v1/hosts/${host.name}`, { labels })).status, 200);

  const until = <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000) =>
    eventually(what, probe, {
      timeoutMs,
      explain: async () => `health: ${JSON.stringify((await get('/v1/health')).items.map((h: Json) => [h.resource, h.state, h.problems]))}`,
    });

  before(async () => {
    lab = await labHosts(1, LAB);
    host = lab.hosts[0];
    truncateSync(host.logFile);
    process.env.UP_SSH_KEY_FILE = host.privateKeyFile;
    stack = await startStack({ env: { UP_HEALTH_INTERVAL_MS: '1000' } });
    await stack.database!.knex('hosts').insert({
      id: crypto.randomUUID(),
      name: host.name,
      address: host.address,
      port: host.port,
      ssh_user: host.user,
      host_key_sha256: host.hostKeySha256,
      labels: JSON.stringify({
        'health.load-per-cpu': '1000',
        'health.disk-percent': '100',
        'health.memory-percent': '100',
        'health.auth-log': host.logFile,
        'health.ssh-failed-logins': '3',
        'health.tenant-homes': `${host.dir}/home`,
        'health.security-updates': 'off',
      }),
    });
    rmSync(`${host.dir}/stranger`, { force: true });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${host.dir}/stranger`]);
  });

  after(async () => {
    listener?.kill();
    await stack?.shutdown();
    await lab?.down();
  });

  test('a quiet host is healthy', async () => {
    const entry = await until('the first security check', async () => (await security())?.state === 'healthy' && security());
    assert.deepEqual(entry.problems, []);
  });

  test('failed SSH logins from one address: an alarm naming it; cleared once the log no longer holds them', async () => {
    for (let i = 0; i < 3; i++) {
      // A real login attempt with a key the host does not know, from the root namespace.
      const attempt = await run('ssh', [
        '-i',
        `${host.dir}/stranger`,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        `root@${host.address}`,
        'true',
      ]).catch((e) => e);
      assert.match(attempt.stderr, /Permission denied/);
    }
    const raised = await until('the ssh alarm', () => alarm('ssh-failed-logins'));
    assert.equal(raised.resource.type, 'security');
    assert.equal(raised.resource.key, host.name);
    assert.match(
      raised.message,
      new RegExp(`failed SSH logins on ${host.name} within 15 min from ${LAB.subnet.replace(/\./g, '\\.')}\\.1 \\(3\\) \\(threshold 3\\)`),
    );

    truncateSync(host.logFile); // rotated
    await until('the ssh alarm cleared', async () => !(await alarm('ssh-failed-logins')));
  });

  test('a port nobody explains: an alarm naming it; an allowlist label explains it', async () => {
    listener = spawn(
      'ip',
      ['netns', 'exec', host.namespace, process.execPath, '-e', "require('net').createServer().listen(4444, '0.0.0.0')"],
      { stdio: 'ignore' },
    );
    const raised = await until('the port alarm', () => alarm('unexplained-ports'));
    assert.equal(raised.message, `TCP ports listening on ${host.name} that no role explains: 4444`);

    await label({ 'health.allowed-ports': '4444,8443' });
    await until('the port alarm cleared', async () => !(await alarm('unexplained-ports')));
    listener.kill();
    listener = undefined;
  });

  test('hostile label values are refused, naming the field', async () => {
    const res = await api('PATCH', `/v1/hosts/${host.name}`, { labels: { 'health.auth-log': '/var/log/$(reboot)' } });
    assert.equal(res.status, 400);
    assert.match(res.body.message, /labels\/health\.auth-log/);
  });

  test('a world-writable file in a tenant home: an alarm, a repair job takes the bit off, the alarm clears', async () => {
    const home = `${host.dir}/home/up-hcbob`;
    mkdirSync(home, { recursive: true });
    writeFileSync(`${home}/notes.txt`, 'anyone may write here\n');
    chmodSync(`${home}/notes.txt`, 0o666);

    const raised = await until('the files alarm', () => alarm('unsafe-files'));
    assert.equal(raised.message, `unsafe files of tenants on ${host.name}: writable by others: ${home}/notes.txt`);
    await until('the files alarm cleared', async () => !(await alarm('unsafe-files')));
    assert.equal(statSync(`${home}/notes.txt`).mode & 0o777, 0o664);
    const repairs = (await api('GET', '/v1/jobs?op=health.repair.security')).body.items as Json[];
    assert.equal(repairs.length, 1);
    assert.equal(repairs[0].status, 'succeeded');
    assert.deepEqual(repairs[0].result, { host: host.name, fixed: 1 });
    const history = (await security()).history.map((h: Json) => h.state).reverse();
    assert.deepEqual(history.slice(-2), ['repairing', 'healthy']);
  });

  test('pending security updates above the threshold: an alarm with their count', async () => {
    const { stdout } = await run('sh', ['-c', 'LC_ALL=C apt list --upgradable 2>/dev/null'], { maxBuffer: 1 << 24 });
    const pending = parseUpgradable(stdout).filter((p) => p.security).length;
    await label({ 'health.security-updates': '0' });
    if (pending === 0) {
      await sleep(5_000);
      assert.equal(await alarm('security-updates'), undefined, 'this machine has no pending security update');
    } else {
      const raised = await until('the updates alarm', () => alarm('security-updates'));
      assert.match(raised.message, new RegExp(`^${pending} security updates pending on ${host.name} \\(threshold 0\\)`));
    }
    await label({ 'health.security-updates': 'off' });
    await until('nothing alarmed', async () => (await api('GET', '/v1/alarms')).body.items.length === 0);
  });
});
