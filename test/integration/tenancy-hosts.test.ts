/**
 * Tenants on a real host (a lab namespace with its own sshd): tenant.provision creates each
 * tenant's Unix user through the whole pipeline, and the OS keeps them apart: one cannot
 * list the other's home or signal the other's processes. Deleting a user removes it again.
 * Namespaces share /etc/passwd with this machine, so the users are removed in `after`.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { labHosts, type Lab, type LabHost } from '../helpers/lab-hosts.ts';
import { startStack } from '../helpers/stack.ts';

const run = promisify(execFile);
type Stack = Awaited<ReturnType<typeof startStack>>;
const TENANTS = ['tenanta', 'tenantb'];

/** Runs a command on the lab host (in its namespace); resolves with its exit code and output. */
async function onHost(host: LabHost, ...argv: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('ip', ['netns', 'exec', host.namespace, ...argv]);
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

async function removeUnixUsers(): Promise<void> {
  for (const t of TENANTS) {
    const user = `up-${t}`;
    await run('sh', [
      '-c',
      'pkill -KILL -u "$1"; sleep 0.2; userdel "$1"; groupdel "$1"; rm -rf -- "/home/$1"; sed -i "/^$1:/d" /etc/subuid /etc/subgid; true',
      'sh',
      user,
    ]).catch(() => undefined);
  }
}

describe('tenant.provision and tenant.deprovision on a lab host', () => {
  let lab: Lab;
  let host: LabHost;
  let stack: Stack;
  let sleeper: ChildProcess | null = null;
  const admin = (method: string, url: string, body?: unknown) =>
    stack.app!.inject({ method: method as 'GET', url, headers: stack.auth, ...(body === undefined ? {} : { payload: body as object }) });

  async function finished(jobId: string) {
    for (;;) {
      const job = (await admin('GET', `/v1/jobs/${jobId}?waitMs=30000`)).json();
      if (['succeeded', 'failed', 'dead', 'superseded'].includes(job.status)) return job;
    }
  }

  before(async () => {
    await removeUnixUsers();
    lab = await labHosts(1, { prefix: 'up-ten', subnet: '10.77.6', bridge: 'uplab6' });
    host = lab.hosts[0];
    process.env.UP_SSH_KEY_FILE = host.privateKeyFile;
    stack = await startStack();
    await stack.database!.knex('hosts').insert({
      id: randomUUID(),
      name: host.name,
      address: host.address,
      port: host.port,
      ssh_user: host.user,
      host_key_sha256: host.hostKeySha256,
    });
    for (const name of TENANTS) assert.equal((await admin('POST', '/v1/users', { name })).statusCode, 201);
  });

  after(async () => {
    sleeper?.kill('SIGKILL');
    await stack?.shutdown();
    await removeUnixUsers();
    await lab?.down();
    delete process.env.UP_SSH_KEY_FILE;
  });

  test('provisioning creates up-<name>: own group, locked password, home 0750, its subordinate ids', async () => {
    for (const name of TENANTS) {
      const res = await admin('POST', `/v1/users/${name}/hosts`, { host: host.name });
      assert.equal(res.statusCode, 202, res.body);
      const job = await finished(res.json().id);
      assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
      assert.equal(job.result.user, `up-${name}`);
      assert.equal(job.result.changed, true);
      const user = (await admin('GET', `/v1/users/${name}`)).json();
      assert.deepEqual(job.result.subuid, user.subids, 'the range the gateway chose for the tenant');
      assert.deepEqual(user.hosts, [host.name], 'the user shows where its Unix user exists');

      const home = await onHost(host, 'stat', '-c', '%a %U %G', `/home/up-${name}`);
      assert.equal(home.out.trim(), `750 up-${name} up-${name}`);
      const shadow = await onHost(host, 'getent', 'shadow', `up-${name}`);
      assert.equal(shadow.out.split(':')[1], '*', 'no password can log in; keys can, later');
      const subuid = await onHost(host, 'grep', `^up-${name}:`, '/etc/subuid');
      assert.equal(subuid.out.trim(), `up-${name}:${user.subids.start}:65536`);
      const subgid = await onHost(host, 'grep', `^up-${name}:`, '/etc/subgid');
      assert.equal(subgid.out.trim(), `up-${name}:${user.subids.start}:65536`);
    }
  });

  test('provisioning again changes nothing', async () => {
    const res = await admin('POST', '/v1/users/tenanta/hosts', { host: host.name });
    const job = await finished(res.json().id);
    assert.equal(job.status, 'succeeded');
    assert.equal(job.result.changed, false);
    const lines = await onHost(host, 'grep', '-c', '^up-tenanta:', '/etc/subuid');
    assert.equal(lines.out.trim(), '1');
  });

  test("tenant A cannot list or read B's home", async () => {
    await onHost(host, 'runuser', '-u', 'up-tenantb', '--', 'sh', '-c', 'echo private > /home/up-tenantb/secret.txt');
    const list = await onHost(host, 'runuser', '-u', 'up-tenanta', '--', 'ls', '/home/up-tenantb');
    assert.notEqual(list.code, 0);
    assert.match(list.out, /Permission denied/);
    const read = await onHost(host, 'runuser', '-u', 'up-tenanta', '--', 'cat', '/home/up-tenantb/secret.txt');
    assert.notEqual(read.code, 0);
    assert.match(read.out, /Permission denied/);
    const own = await onHost(host, 'runuser', '-u', 'up-tenantb', '--', 'cat', '/home/up-tenantb/secret.txt');
    assert.equal(own.out.trim(), 'private', 'B reads its own');
  });

  test("tenant A cannot signal B's processes", async () => {
    sleeper = spawn('ip', ['netns', 'exec', host.namespace, 'runuser', '-u', 'up-tenantb', '--', 'sleep', '300'], { stdio: 'ignore' });
    let pid = '';
    for (let i = 0; i < 50 && !pid; i++) {
      pid = (await onHost(host, 'pgrep', '-u', 'up-tenantb', '-x', 'sleep')).out.trim().split('\n')[0] ?? '';
      if (!pid) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(pid, /^\d+$/);
    const kill = await onHost(host, 'runuser', '-u', 'up-tenanta', '--', 'kill', '-0', pid);
    assert.notEqual(kill.code, 0);
    assert.match(kill.out, /Operation not permitted/);
    assert.equal((await onHost(host, 'runuser', '-u', 'up-tenantb', '--', 'kill', '-0', pid)).code, 0, 'B can signal its own');
  });

  test('deleting a user removes its Unix user, home, group, ids and processes from the host', async () => {
    const res = await admin('DELETE', '/v1/users/tenantb');
    assert.equal(res.statusCode, 202, res.body);
    const [removal] = res.json().jobs;
    assert.equal(removal.op, 'tenant.deprovision');
    const job = await finished(removal.id);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.result.changed, true);
    assert.notEqual((await onHost(host, 'getent', 'passwd', 'up-tenantb')).code, 0);
    assert.notEqual((await onHost(host, 'getent', 'group', 'up-tenantb')).code, 0);
    assert.notEqual((await onHost(host, 'test', '-e', '/home/up-tenantb')).code, 0);
    assert.notEqual((await onHost(host, 'grep', '-q', '^up-tenantb:', '/etc/subuid')).code, 0);
    assert.equal((await onHost(host, 'pgrep', '-u', String(job.result.user), 'sleep')).code !== 0, true);

    const again = await admin('DELETE', `/v1/users/tenanta/hosts/${host.name}`);
    const second = await finished(again.json().id);
    assert.equal(second.status, 'succeeded');
    assert.deepEqual((await admin('GET', '/v1/users/tenanta')).json().hosts, []);
  });
});
