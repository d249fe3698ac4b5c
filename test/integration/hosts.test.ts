/**
 * The host inventory end to end, embedded (PGlite + in-process bus), against real sshd on lab
 * hosts: add with a scanned and pinned key, probe, prepare, update listing, a changed key, an
 * unreachable host, a jump host, and the API's refusals.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { quote } from 'shell-quote';
import { after, before, describe, it } from 'node:test';
import { labHosts, type Lab, type LabHost } from '../helpers/lab-hosts.ts';
import { runUp } from '../helpers/processes.ts';
import { startStack, TEST_TOKEN } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const UP = fileURLToPath(new URL('../../bin/up.js', import.meta.url));

/** Runs `up` on a pseudo-terminal (util-linux `script`), typing `answer` when `prompt` appears. */
function runUpOnTerminal(
  args: string[],
  env: Record<string, string>,
  prompt: RegExp,
  answer: string,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', quote([process.execPath, UP, ...args]), '/dev/null'], { env: { ...process.env, ...env } });
    let output = '';
    let answered = false;
    child.stdout.on('data', (chunk) => {
      output += chunk;
      if (!answered && prompt.test(output)) {
        answered = true;
        child.stdin.write(answer);
      }
    });
    child.on('exit', (code) => resolve({ code: code ?? -1, output }));
  });
}

describe('hosts: inventory and host operations on lab hosts', () => {
  let lab: Lab;
  let h1: LabHost;
  let h2: LabHost;
  let h3: LabHost;
  let stack: Stack;
  let cliEnv: Record<string, string>;

  before(async () => {
    lab = await labHosts(3, { prefix: 'up-hosts', subnet: '10.77.5', bridge: 'uplab5' });
    [h1, h2, h3] = lab.hosts;
    process.env.UP_SSH_KEY_FILE = h1.privateKeyFile;
    stack = await startStack();
    cliEnv = { UP_URL: stack.url!, UP_TOKEN: TEST_TOKEN, UP_LOG_LEVEL: 'silent' };
  });
  after(async () => {
    await stack?.shutdown();
    await lab?.down();
  });

  const api = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown) => {
    const res = await stack.app!.inject({ method, url, payload: body as never, headers: stack.auth });
    return { status: res.statusCode, body: (res.body ? res.json() : null) as Json };
  };

  /** Follows a job until it is final (retries included). */
  async function finalJob(id: string, timeoutMs = 60_000): Promise<Json> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const { body } = await api('GET', `/v1/jobs/${id}?waitMs=10000`);
      if (['succeeded', 'failed', 'dead', 'superseded'].includes(body.status)) return body;
      if (Date.now() > until) throw new Error(`job ${id} still ${body.status}`);
    }
  }
  const runJob = async (url: string, body?: unknown) => {
    const res = await api('POST', url, body);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return finalJob(res.body.id);
  };
  const addHost = async (body: Json) => {
    const res = await api('POST', '/v1/hosts', body);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  };

  it('`up hosts add` scans the key, refuses to trust it silently, and pins it with --yes', async () => {
    const refused = await runUp(['hosts', 'add', h1.name, '--address', h1.address, '--role', 'dns'], cliEnv);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, new RegExp(`offers host key ${h1.hostKeySha256.replace(/[+/]/g, '\\$&')}`));
    assert.match(refused.stderr, /not a terminal.*--yes/);
    assert.equal((await api('GET', `/v1/hosts/${h1.name}`)).status, 404, 'nothing added without consent');

    const added = await runUp(
      ['hosts', 'add', h1.name, '--address', h1.address, '--role', 'dns', '--label', 'rack=a1', '--yes', '--json'],
      cliEnv,
    );
    assert.equal(added.code, 0, added.stderr);
    const host = JSON.parse(added.stdout);
    assert.equal(host.hostKeySha256, h1.hostKeySha256, 'the pinned key is the one ssh-keygen prints for the host');
    assert.deepEqual(host.roles, ['dns']);
    assert.deepEqual(host.labels, { rack: 'a1' });
    assert.equal(host.port, 22);
    assert.equal(host.user, 'root');
  });

  it('probe stores facts on the host, and `up hosts show` prints them', async () => {
    const job = await runJob(`/v1/hosts/${h1.name}/probe`);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.result.os.id, 'debian');
    assert.match(job.result.software.bind9, /9\.18/, 'bind9 is installed, with its version');
    assert.equal(job.payload.host.hostKeySha256, h1.hostKeySha256, 'the message carries the pinned key, never a private one');
    assert.doesNotMatch(JSON.stringify(job), /PRIVATE KEY/);

    const { body: host } = await api('GET', `/v1/hosts/${h1.name}`);
    assert.deepEqual(host.facts, job.result);
    assert.ok(host.factsAt);

    const shown = await runUp(['hosts', 'show', h1.name], cliEnv);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /os\s+Debian GNU\/Linux/);
    assert.match(shown.stdout, new RegExp(`kernel\\s+${job.result.os.kernel.replace(/[.+]/g, '\\$&')}`));
    assert.match(shown.stdout, /bind9\s+1:9\.18/);
    assert.match(shown.stdout, /podman\s+(-|\d\S*)\n/, 'podman is listed, with its version when it is installed');
    const listed = await runUp(['hosts', 'list'], cliEnv);
    assert.match(listed.stdout, new RegExp(`${h1.name}\\s+${h1.address.replace(/\./g, '\\.')}:22\\s+dns`));
  });

  it("prepare installs nothing that is there, creates up's directories, and a second run changes nothing", async () => {
    const first = await runJob(`/v1/hosts/${h1.name}/prepare`);
    assert.equal(first.status, 'succeeded', JSON.stringify(first.error));
    assert.deepEqual(first.result.packages, { installed: [], present: ['bind9', 'bind9-dnsutils'] });
    for (const dir of ['/etc/up', '/var/lib/up']) assert.ok(existsSync(dir), `${dir} exists`);
    assert.ok(existsSync(`${h1.dir}/lock/up`), 'the lock directory exists on the host (its private /run/lock)');

    const again = await runJob(`/v1/hosts/${h1.name}/prepare`);
    assert.equal(again.status, 'succeeded');
    assert.equal(again.result.changed, false);
    assert.deepEqual(again.result.packages.installed, []);
    assert.deepEqual(again.result.directories.created, []);

    const cli = await runUp(['hosts', 'prepare', h1.name, '--wait', '--json'], cliEnv);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(JSON.parse(cli.stdout).result.changed, false);
  });

  it('update lists pending updates with security ones marked, and changes nothing without apply', async () => {
    const job = await runJob(`/v1/hosts/${h1.name}/update`, { apply: false });
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.result.applied, false);
    assert.deepEqual(job.result.upgraded, []);
    for (const p of job.result.pending) {
      assert.match(p.name, /^[a-z0-9][a-z0-9+.-]*$/);
      assert.equal(p.security, p.origin.includes('-security'), `${p.name} from ${p.origin}`);
    }
  });

  it('a host in maintenance refuses prepare and update (409 naming the flag), but can be probed', async () => {
    const cli = await runUp(['hosts', 'maintenance', h1.name, 'on', '--json'], cliEnv);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(JSON.parse(cli.stdout).maintenance, true);
    for (const verb of ['prepare', 'update']) {
      const res = await api('POST', `/v1/hosts/${h1.name}/${verb}`, verb === 'update' ? { apply: true } : undefined);
      assert.equal(res.status, 409);
      assert.match(res.body.message, /maintenance/);
    }
    assert.equal((await api('POST', `/v1/hosts/${h1.name}/probe`)).status, 202);
    assert.equal((await api('PATCH', `/v1/hosts/${h1.name}`, { maintenance: false })).body.maintenance, false);
  });

  it('a host whose key does not match the pinned one fails the job naming both fingerprints; rekey fixes it', async () => {
    await addHost({ name: h2.name, address: h2.address, hostKeySha256: h3.hostKeySha256 });
    const job = await runJob(`/v1/hosts/${h2.name}/probe`);
    assert.equal(job.status, 'failed');
    assert.equal(job.attempt, 1, 'a wrong key is never retried');
    assert.equal(job.error.code, 'HOST_KEY_MISMATCH');
    assert.ok(job.error.message.includes(h3.hostKeySha256) && job.error.message.includes(h2.hostKeySha256), job.error.message);

    const silently = await api('PATCH', `/v1/hosts/${h2.name}`, { hostKeySha256: h2.hostKeySha256 });
    assert.equal(silently.status, 400);
    assert.match(silently.body.message, /rekey/);
    const rekeyed = await api('PATCH', `/v1/hosts/${h2.name}`, { hostKeySha256: h2.hostKeySha256, rekey: true });
    assert.equal(rekeyed.body.hostKeySha256, h2.hostKeySha256);
    assert.equal((await runJob(`/v1/hosts/${h2.name}/probe`)).status, 'succeeded');
  });

  it('a host reached through a jump host is scanned and probed through it', async () => {
    const added = await runUp(['hosts', 'add', h3.name, '--address', h3.address, '--jump', h1.name, '--yes', '--json'], cliEnv);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(JSON.parse(added.stdout).hostKeySha256, h3.hostKeySha256);
    assert.equal(JSON.parse(added.stdout).jumpHost, h1.name);
    const job = await runJob(`/v1/hosts/${h3.name}/probe`);
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.payload.host.jump.name, h1.name);

    const busy = await api('DELETE', `/v1/hosts/${h1.name}`);
    assert.equal(busy.status, 409);
    assert.match(busy.body.message, new RegExp(`jump host of ${h3.name}`));
  });

  it('an unreachable host fails as retryable within the connect timeout, then ends dead', async () => {
    await addHost({ name: 'gone', address: lab.deadAddress, hostKeySha256: h1.hostKeySha256 });
    const started = Date.now();
    const job = await runJob('/v1/hosts/gone/probe');
    assert.equal(job.status, 'dead');
    assert.equal(job.attempt, 3);
    const retrying = job.events.filter((e: Json) => e.status === 'retrying');
    assert.equal(retrying.length, 2);
    for (const e of retrying) {
      assert.match(e.message, /cannot connect/);
      assert.ok(e.durationMs <= 11_000, `an attempt gives up within the connect timeout (${e.durationMs} ms)`);
    }
    assert.equal(job.error.code, 'CONNECT_FAILED');
    assert.ok(Date.now() - started < 50_000);
  });

  it('refuses bad input with 400 naming the field, and a duplicate name with 409', async () => {
    const base = { name: 'ok-name', address: '10.0.0.1', hostKeySha256: h1.hostKeySha256 };
    const cases: [Json, RegExp][] = [
      [{ ...base, roles: ['dns', 'mainframe'] }, /roles\/1/],
      [{ ...base, address: '10.0.0.1; rm -rf /' }, /address/],
      [{ ...base, address: '999.1.2.3' }, /address/],
      [{ ...base, port: 70000 }, /port/],
      [{ ...base, port: 0 }, /port/],
      [{ ...base, name: 'Bad_Name' }, /name/],
      [{ ...base, name: '-x' }, /name/],
      [{ ...base, user: '$(id)' }, /user/],
      [{ ...base, hostKeySha256: 'SHA256:short' }, /hostKeySha256/],
      [{ name: 'no-key', address: '10.0.0.1' }, /hostKeySha256/],
      [{ ...base, jumpHost: 'nosuchhost' }, /jumpHost/],
      [{ ...base, labels: { 'bad key': 'v' } }, /labels/],
      [{ ...base, capacity: { cpu: -1 } }, /capacity\/cpu/],
    ];
    for (const [body, field] of cases) {
      const res = await api('POST', '/v1/hosts', body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.status} ${JSON.stringify(res.body)}`);
      assert.match(res.body.message, field, JSON.stringify(res.body));
    }
    const duplicate = await api('POST', '/v1/hosts', { ...base, name: h1.name });
    assert.equal(duplicate.status, 409);
    assert.match(duplicate.body.message, /already exists/);
    const scan = await api('POST', '/v1/hosts/keyscans', { address: '$(reboot)' });
    assert.equal(scan.status, 400);
    assert.equal((await api('GET', '/v1/hosts/nosuchhost')).status, 404);
  });

  it('labels merge and remove; remove deletes a host', async () => {
    await api('PATCH', `/v1/hosts/${h2.name}`, { labels: { zone: 'a', tier: 'gold' } });
    const cli = await runUp(['hosts', 'label', h2.name, 'zone=b', 'tier-', '--json'], cliEnv);
    assert.equal(cli.code, 0, cli.stderr);
    assert.deepEqual(JSON.parse(cli.stdout).labels, { zone: 'b' });
    const gone = await runUp(['hosts', 'remove', h2.name, '--yes'], cliEnv);
    assert.equal(gone.code, 0, gone.stderr);
    assert.equal((await api('GET', `/v1/hosts/${h2.name}`)).status, 404);
  });

  it('on a terminal, `up hosts add` shows the fingerprint and adds the host once the admin answers y', async () => {
    const { code, output } = await runUpOnTerminal(
      ['hosts', 'add', h2.name, '--address', h2.address],
      cliEnv,
      /trust this host key\? \[y\/N\]/,
      'y\n',
    );
    assert.equal(code, 0, output);
    assert.ok(output.includes(`offers host key ${h2.hostKeySha256}`), output);
    assert.match(output, new RegExp(`added ${h2.name}`));
    assert.equal((await api('GET', `/v1/hosts/${h2.name}`)).body.hostKeySha256, h2.hostKeySha256);
  });

  it('a wrong pinned key: the failed job says how to re-pin, and `up hosts repin` scans, asks and pins the offered key (walk friction 3)', async () => {
    const wrong = `SHA256:${'A'.repeat(43)}`;
    assert.equal((await api('PATCH', `/v1/hosts/${h2.name}`, { hostKeySha256: wrong, rekey: true })).status, 200);
    const refused = await runJob(`/v1/hosts/${h2.name}/probe`);
    assert.equal(refused.status, 'failed');
    assert.equal(
      refused.error.message,
      `${h2.name}: host key mismatch: pinned ${wrong}, offered ${h2.hostKeySha256}. If the host was reinstalled and you have checked the new key on its console, pin it: up hosts repin ${h2.name} --fingerprint ${h2.hostKeySha256} (API: PATCH /v1/hosts/${h2.name} {"hostKeySha256": "${h2.hostKeySha256}", "rekey": true})`,
    );

    const unasked = await runUp(['hosts', 'repin', h2.name], cliEnv);
    assert.equal(unasked.code, 1);
    assert.ok(unasked.stderr.includes(`offers host key ${h2.hostKeySha256}; pinned now: ${wrong}`), unasked.stderr);
    assert.match(unasked.stderr, /not a terminal.*--yes/);
    assert.equal((await api('GET', `/v1/hosts/${h2.name}`)).body.hostKeySha256, wrong, 'nothing pinned without consent');

    const repinned = await runUp(['hosts', 'repin', h2.name, '--yes', '--json'], cliEnv);
    assert.equal(repinned.code, 0, repinned.stderr);
    assert.equal(JSON.parse(repinned.stdout).hostKeySha256, h2.hostKeySha256);
    assert.equal((await runJob(`/v1/hosts/${h2.name}/probe`)).status, 'succeeded');
  });
});
