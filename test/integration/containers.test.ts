/**
 * Containers end to end on real podman: a lab host of the containers role (its own podman
 * state), two tenants side by side, the pipeline in-process, and the checks a person would make
 * on the host: the published port answers, the processes and files belong to each tenant's own
 * host uids, one tenant's containers cannot reach the other's, limits hold, repair brings back
 * a container that died, delete removes what it should and nothing else.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setUserLimits } from '../../gateway/users/store.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { labHosts, registerLabHost, type Lab, type LabHost } from '../helpers/lab-hosts.ts';
import { BUSYBOX_IMAGE, importBusybox, onHost, PODMAN_PRIVATE_DIRS, removeContainers } from '../helpers/podman-lab.ts';
import { runUp } from '../helpers/processes.ts';
import { startStack } from '../helpers/stack.ts';
import { isolateSubids, removeUnixUsers } from '../helpers/unix-users.ts';
import { tenantsWithTokens } from '../helpers/tenants.ts';
import { stackApi } from '../helpers/stack-api.ts';

const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);
const TENANTS = ['ctralice', 'ctrbob'];
type Json = Record<string, any>;
type Stack = Awaited<ReturnType<typeof startStack>>;

/** Runs `check` until it stops throwing; past the deadline its last failure is the test's. */
async function retrying<T>(check: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(250);
    }
  }
}

/** A busybox web server answering `text` on port 8080 (its document root made at start). */
const webServer = (text: string) => ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 8080 -h /www`];
/** One HTTP GET from inside a container (busybox nc): the status line, or nothing. */
const getFrom = (key: string, target: string) =>
  `podman exec ${key} sh -c 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 ${target} 8080 | head -n 1' 2>/dev/null || true`;

describe('containers on real podman', { timeout: 300_000 }, () => {
  let lab: Lab;
  let host: LabHost;
  let stack: Stack;
  const tokens: Record<string, string> = {};
  const subids: Record<string, number> = {};

  const { api, settled, succeeded } = stackApi(() => stack, tokens);
  const admin = api('admin');

  const inspect = async (key: string, format: string) =>
    (await onHost(host, `podman container inspect --format '${format}' ${key}`)).trim();

  before(async () => {
    await removeUnixUsers(TENANTS);
    lab = await labHosts(1, { prefix: 'up-ctr', subnet: '10.77.50', bridge: 'uplab50', privateDirs: PODMAN_PRIVATE_DIRS });
    [host] = lab.hosts;
    process.env.UP_SSH_KEY_FILE = host.privateKeyFile;
    stack = await startStack({ env: { UP_HEALTH_INTERVAL_MS: '1000' } });
    const db = stack.database!.knex;
    await registerLabHost(db, host, ['containers']);
    Object.assign(tokens, await tenantsWithTokens(db, TENANTS));
    await isolateSubids(db, TENANTS);
    for (const name of TENANTS) subids[name] = Number((await db('users').where({ name }).first('subid_start')).subid_start);

    // `up hosts prepare`: the packages are there (CI installs them); podman is configured by the role's set-up job.
    const prepared = await admin('POST', `/v1/hosts/${host.name}/prepare`);
    assert.equal((await settled(prepared.body)).status, 'succeeded');
    const setup = await retrying(async () => {
      const { body } = await admin('GET', `/v1/jobs?op=container.host.setup`);
      const job = body.items[0];
      assert.ok(job && FINAL.has(job.status), 'container.host.setup has not finished yet');
      return job;
    }, 60_000);
    assert.equal(setup.status, 'succeeded', JSON.stringify(setup.error));
    assert.match(await onHost(host, 'cat /etc/containers/containers.conf'), /runtime = "runc"/);
    await importBusybox(host);
  });

  after(async () => {
    await stack?.shutdown();
    if (host) await removeContainers(host);
    await lab?.down();
    await removeUnixUsers(TENANTS);
  });

  test('a tenant runs a container from the CLI and reaches it through its published port, bound to the host address only', async () => {
    const env = { UP_URL: stack.url!, UP_TOKEN: tokens.ctralice, UP_LOG_LEVEL: 'silent' };
    const created = await runUp(
      [
        'containers',
        'create',
        'web',
        BUSYBOX_IMAGE,
        '--port',
        '8080',
        '--memory',
        '64',
        '--wait',
        '--json',
        '--',
        ...webServer('hello-alice'),
      ],
      env,
    );
    assert.equal(created.code, 0, created.stderr + created.stdout);
    const { container } = JSON.parse(created.stdout);
    const [port] = container.ports;
    assert.equal(port.address, host.address);
    assert.ok(port.host >= 20_000 && port.host < 30_000, `allocated port ${port.host}`);
    const answer = await retrying(async () => {
      const res = await fetch(`http://${host.address}:${port.host}/`);
      return res.text();
    }, 15_000);
    assert.equal(answer.trim(), 'hello-alice');
    // Published on the one address, never on every interface.
    const listening = await onHost(host, `ss -Hltn 'sport = :${port.host}'`);
    assert.match(listening, new RegExp(`${host.address.replace(/\./g, '\\.')}:${port.host}`));
    assert.doesNotMatch(listening, /(0\.0\.0\.0|\*|\[::\]):\d+/);

    const listed = await runUp(['containers', 'list'], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /web\s+running\s+up-ctr-h1/);
  });

  test("two tenants: each runs as its own host uids, reaches its own containers by name and never the other's", async () => {
    await succeeded(
      await api('ctrbob')('POST', '/v1/containers', {
        name: 'web',
        image: BUSYBOX_IMAGE,
        command: webServer('hello-bob'),
        ports: [{ container: 8080 }],
      }),
      'ctrbob',
    );
    await succeeded(
      await api('ctralice')('POST', '/v1/containers', {
        name: 'worker',
        image: BUSYBOX_IMAGE,
        command: ['sh', '-c', 'echo data > /data/file && exec sleep 100000'],
        volumes: [{ name: 'files', target: '/data' }],
      }),
      'ctralice',
    );
    for (const tenant of TENANTS) {
      const pid = await inspect(`web-${tenant}`, '{{.State.Pid}}');
      assert.equal((await onHost(host, `cat /proc/${pid}/uid_map`)).trim().split(/\s+/).join(' '), `0 ${subids[tenant]} 65536`);
      assert.equal(
        (await onHost(host, `stat -c %u /proc/${pid}`)).trim(),
        String(subids[tenant]),
        `root in ${tenant}'s container is ${tenant}'s first sub-uid on the host`,
      );
    }
    assert.notEqual(subids.ctralice, subids.ctrbob);
    const mount = await onHost(host, `podman volume inspect --format '{{.Mountpoint}}' files-ctralice`);
    assert.equal((await onHost(host, `stat -c '%u:%g' ${mount.trim()}/file`)).trim(), `${subids.ctralice}:${subids.ctralice}`);

    // Alice's worker reaches alice's web by name; bob's web, by name or address, not at all.
    assert.match(await onHost(host, getFrom('worker-ctralice', 'web')), /^HTTP\/1\.[01] 200/);
    const bobAddress = await inspect('web-ctrbob', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}');
    assert.match(bobAddress, /^\d+\.\d+\.\d+\.\d+$/);
    assert.equal((await onHost(host, getFrom('worker-ctralice', bobAddress))).trim(), '');
    assert.match(await onHost(host, getFrom('web-ctrbob', bobAddress)), /^HTTP\/1\.[01] 200/, 'the probe itself works');
  });

  test('hardening and limits: no privileges, capabilities dropped, cgroup limits set; a total over the plan is 422', async () => {
    const hostConfig = await inspect(
      'web-ctralice',
      '{{.HostConfig.Privileged}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NetworkMode}} {{.HostConfig.SecurityOpt}}',
    );
    assert.match(hostConfig, /^false 67108864 256 bridge \[.*no-new-privileges.*\]$/);
    const caps = await inspect('web-ctralice', '{{.EffectiveCaps}}');
    assert.doesNotMatch(caps, /SYS_ADMIN|NET_ADMIN|NET_RAW|SYS_PTRACE|MKNOD/);
    const pid = await inspect('web-ctralice', '{{.State.Pid}}');
    const cgroup = (await onHost(host, `grep ':memory:' /proc/${pid}/cgroup | cut -d: -f3`)).trim();
    assert.equal((await onHost(host, `cat /sys/fs/cgroup/memory${cgroup}/memory.limit_in_bytes`)).trim(), '67108864');

    await setUserLimits(stack.database!.knex, (await stack.database!.knex('users').where({ name: 'ctralice' }).first()).id, {
      containerMemoryMb: 400,
    });
    const over = await api('ctralice')('POST', '/v1/containers', { name: 'big', image: BUSYBOX_IMAGE, limits: { memoryMb: 200 } });
    assert.equal(over.status, 422, JSON.stringify(over.body));
    assert.match(over.body.message, /containerMemoryMb/);
    await setUserLimits(stack.database!.knex, (await stack.database!.knex('users').where({ name: 'ctralice' }).first()).id, {});
  });

  test('out of memory: the kernel kills it, the health check reports it and repair brings it back', async () => {
    // The first start allocates past its 32 MiB limit; once restarted it serves.
    const command = [
      'sh',
      '-c',
      'if [ ! -f /data/ran ]; then touch /data/ran; x=$(head -c 120000000 /dev/zero | tr "\\0" a); fi; exec sleep 100000',
    ];
    await succeeded(
      await api('ctralice')('POST', '/v1/containers', {
        name: 'hungry',
        image: BUSYBOX_IMAGE,
        command,
        restart: 'no',
        limits: { memoryMb: 32 },
        volumes: [{ name: 'hungry', target: '/data' }],
      }),
      'ctralice',
    );
    // The check reports it (the history keeps the finding), and repair restarts it: it then serves.
    await retrying(async () => {
      const { body } = await api('ctralice')('GET', '/v1/health?type=container&history=true');
      const item = body.items.find((h: Json) => h.resource.key === `hungry-ctralice@${host.name}`);
      assert.ok(
        item?.history?.some((h: Json) => /killed for exceeding its memory limit/.test(h.note ?? '')),
        JSON.stringify(item),
      );
      assert.ok(
        item.history.some((h: Json) => /health\.repair\.container/.test(h.note ?? '')),
        JSON.stringify(item),
      );
    }, 60_000);
    await retrying(async () => assert.equal(await inspect('hungry-ctralice', '{{.State.Status}}'), 'running'), 60_000);
  });

  test('a container stopped from outside is restarted by repair', async () => {
    await onHost(host, 'podman stop -t 0 web-ctrbob >/dev/null');
    await retrying(async () => assert.equal(await inspect('web-ctrbob', '{{.State.Status}}'), 'running'), 60_000);
    await retrying(async () => {
      const repairs = await admin('GET', '/v1/jobs?op=health.repair.container');
      assert.ok(
        repairs.body.items.some((j: Json) => j.target?.startsWith('container/web@') && j.status === 'succeeded'),
        JSON.stringify(repairs.body.items.map((j: Json) => [j.target, j.status])),
      );
    }, 30_000);
  });

  test('bad input is refused naming the field; nothing reaches podman as an option or a host path', async () => {
    const alice = api('ctralice');
    const bad: [Json, RegExp][] = [
      [{ name: 'x', image: '--privileged' }, /image/],
      [{ name: 'x', image: 'busybox; rm -rf /' }, /image/],
      [{ name: 'x', image: '../../etc' }, /image/],
      [{ name: 'x', image: BUSYBOX_IMAGE, privileged: true }, /privileged|additional/],
      [{ name: 'x', image: BUSYBOX_IMAGE, env: { 'A=B': '1' } }, /env/],
      [{ name: 'x', image: BUSYBOX_IMAGE, env: { A: 'a\u0000b' } }, /env/],
      [{ name: 'x', image: BUSYBOX_IMAGE, volumes: [{ name: '/etc', target: '/data' }] }, /volumes/],
      [{ name: 'x', image: BUSYBOX_IMAGE, volumes: [{ name: 'v', target: '/data/../../etc' }] }, /volumes/],
      [{ name: 'x', image: BUSYBOX_IMAGE, volumes: [{ name: 'v', target: '/proc/sys' }] }, /volumes/],
      [{ name: 'x', image: BUSYBOX_IMAGE, volumes: [{ name: 'v', target: 'relative' }] }, /volumes/],
      [{ name: 'x', image: BUSYBOX_IMAGE, ports: [{ container: 0 }] }, /ports/],
      [{ name: 'x', image: BUSYBOX_IMAGE, ports: [{ container: 80, host: 22 }] }, /ports/],
      [{ name: 'x', image: BUSYBOX_IMAGE, ports: [{ container: 80 }, { container: 80 }] }, /ports/],
      [{ name: 'x', image: BUSYBOX_IMAGE, command: ['a\u0000b'] }, /command/],
      [{ name: 'X;y', image: BUSYBOX_IMAGE }, /name/],
      [{ name: 'x', image: BUSYBOX_IMAGE, limits: { memoryMb: 1 } }, /limits/],
      [{ name: 'x', image: BUSYBOX_IMAGE, network: 'host' }, /network|additional/],
    ];
    for (const [body, field] of bad) {
      const res = await alice('POST', '/v1/containers', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.status} ${JSON.stringify(res.body)}`);
      assert.match(JSON.stringify(res.body), field, JSON.stringify(body));
    }
    // Placement is the admin's: a tenant naming a host is refused, a host without the role is 422.
    assert.equal((await alice('POST', '/v1/containers', { name: 'x', image: BUSYBOX_IMAGE, host: host.name })).status, 403);
    await stack.database!.knex('hosts').insert({
      id: crypto.randomUUID(),
      name: 'noroles',
      address: '10.77.50.99',
      port: 22,
      ssh_user: 'root',
      host_key_sha256: host.hostKeySha256,
      roles: [],
    });
    const noRole = await admin('POST', '/v1/containers', { name: 'x', image: BUSYBOX_IMAGE, host: 'noroles' });
    assert.equal(noRole.status, 422);
    assert.match(noRole.body.message, /containers role/);
    // A command is argv of the container's process, after the image: `--privileged` there is just a word.
    await succeeded(
      await alice('POST', '/v1/containers', {
        name: 'argv',
        image: BUSYBOX_IMAGE,
        command: ['echo', '--privileged', '$(id)'],
        restart: 'no',
      }),
      'ctralice',
    );
    assert.equal(await inspect('argv-ctralice', '{{.HostConfig.Privileged}}'), 'false');
    await retrying(async () => assert.match(await onHost(host, 'podman logs argv-ctralice'), /--privileged \$\(id\)/), 15_000);
    // Bob sees none of alice's containers.
    assert.equal((await api('ctrbob')('GET', '/v1/containers/worker')).status, 404);
    assert.equal((await api('ctrbob')('POST', '/v1/containers/worker/logs', { tail: 5 })).status, 404);
    assert.ok((await api('ctrbob')('GET', '/v1/containers')).body.items.every((c: Json) => c.owner === 'ctrbob'));
  });

  test("logs are read through the API by the owner; delete removes the container and the tenant's network with its last container, and nothing else", async () => {
    const env = { UP_URL: stack.url!, UP_TOKEN: tokens.ctralice, UP_LOG_LEVEL: 'silent' };
    const logs = await runUp(['containers', 'logs', 'argv', '--tail', '5'], env);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /--privileged \$\(id\)/);

    for (const name of ['web', 'hungry', 'argv']) await succeeded(await api('ctralice')('DELETE', `/v1/containers/${name}`), 'ctralice');
    assert.equal(
      (await onHost(host, 'podman ps -a --format "{{.Names}}" | sort')).trim().split('\n').join(' '),
      'web-ctrbob worker-ctralice',
    );
    assert.match(
      await onHost(host, 'podman network ls --format "{{.Name}}"'),
      /up-ctralice/,
      'the network stays while alice has a container here',
    );
    const removed = await runUp(['containers', 'delete', 'worker', '--yes', '--wait'], env);
    assert.equal(removed.code, 0, removed.stderr + removed.stdout);
    const networks = await onHost(host, 'podman network ls --format "{{.Name}}"');
    assert.doesNotMatch(networks, /up-ctralice/);
    assert.match(networks, /up-ctrbob/);
    assert.match(await onHost(host, 'podman volume ls --format "{{.Name}}"'), /files-ctralice/, 'volumes hold data: they stay');
    const bob = await fetch(`http://${host.address}:${(await api('ctrbob')('GET', '/v1/containers/web')).body.ports[0].host}/`);
    assert.equal((await bob.text()).trim(), 'hello-bob');
  });
});
