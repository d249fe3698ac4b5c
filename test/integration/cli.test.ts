/**
 * The CLI as users of panels and cloud CLIs expect it, against the embedded stack: output
 * formats, named contexts with login/logout/whoami, an admin acting for a tenant, confirmation
 * of destructive commands, progress of fan-out jobs, completion, `show` as text, and the
 * environment read strictly (walk bug 5).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { STACK_FRAME, testCli } from '../helpers/cli.ts';
import { startStack, TEST_TOKEN } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;
const FINGERPRINT = (c: string) => `SHA256:${c.repeat(43)}`;

describe('the up CLI', () => {
  let stack: Stack;
  let cli: Awaited<ReturnType<typeof testCli>>;
  let admin: Record<string, string>;
  const api = async (method: string, path: string, body?: unknown, token = TEST_TOKEN) => {
    const res = await fetch(`${stack.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as any };
  };
  const secrets: Record<string, string> = {};

  before(async () => {
    stack = await startStack({ embedded: true });
    cli = await testCli();
    admin = { UP_URL: stack.url!, UP_TOKEN: TEST_TOKEN };
    for (const name of ['alice', 'bob']) {
      assert.equal((await api('POST', '/v1/users', { name })).status, 201);
      secrets[name] = (await api('POST', '/v1/tokens', { name: 'laptop', user: name })).body.secret;
    }
  });
  after(async () => {
    cli?.cleanup();
    await stack?.shutdown();
  });

  test('--output json|yaml|table, --json as an alias, --no-headers; a job table keeps one line per job', async () => {
    const ping = await cli.run(['ping', '--wait', '-o', 'json'], { env: admin });
    assert.equal(ping.code, 0, ping.stderr);
    const job = JSON.parse(ping.stdout);
    assert.equal(job.status, 'succeeded');
    assert.equal(ping.stderr, '', 'no progress chatter with machine output');
    const yaml = await cli.run(['jobs', 'show', job.id, '--output', 'yaml'], { env: admin });
    assert.equal(parse(yaml.stdout).id, job.id);
    const json = await cli.run(['jobs', 'show', job.id, '--json'], { env: admin });
    assert.deepEqual(JSON.parse(json.stdout), parse(yaml.stdout));

    // nginx's errors run over several lines: the table shows the first, cut.
    await stack
      .database!.knex('jobs')
      .where({ id: job.id })
      .update({
        error: JSON.stringify({
          kind: 'permanent',
          message: 'nginx: [emerg] bind() to 0.0.0.0:80 failed\nnginx: configuration file test failed',
        }),
      });
    const listed = await cli.run(['jobs', 'list', '--no-headers'], { env: admin });
    const lines = listed.stdout.trimEnd().split('\n');
    assert.equal(lines.length, Number((await api('GET', '/v1/jobs?limit=500')).body.items.length), listed.stdout);
    assert.match(lines.find((l) => l.startsWith(job.id))!, /nginx: \[emerg\] bind\(\) to 0\.0\.0\.0:80 failed…$/);
    assert.doesNotMatch(listed.stdout, /^ID /);
  });

  test('walk bug 5: UP_TOKEN or UP_URL set but empty is an error, never the stored admin token', async () => {
    mkdirSync(join(cli.home, 'data'), { recursive: true });
    writeFileSync(join(cli.home, 'data', 'admin-token'), `${TEST_TOKEN}\n`, { mode: 0o600 });
    for (const value of ['', '   ', '\n']) {
      const run = await cli.run(['sites', 'list'], { env: { UP_URL: stack.url!, UP_TOKEN: value } });
      assert.equal(run.code, 78, JSON.stringify(value));
      assert.equal(run.stderr, 'up: UP_TOKEN is set but empty: unset it to use your stored login, or give it a value\n');
    }
    const url = await cli.run(['whoami'], { env: { UP_URL: '', UP_TOKEN: secrets.alice } });
    assert.equal(url.code, 78);
    // Unset, the stored admin token works for the gateway on this machine, and says so.
    const unset = await cli.run(['whoami'], { env: { UP_URL: stack.url! } });
    assert.match(unset.stdout, /^user {5}admin \(admin\)\n[\s\S]*from {5}the stored admin token/);
  });

  test('contexts: login stores URL and token by name (0600 in 0700), context use/show/list/delete, whoami, logout --revoke', async () => {
    const login = await cli.run(['login', '--url', stack.url!, '--context', 'alice'], { input: `${secrets.alice}\n` });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /logged in as alice \(user\) .* stored as context "alice"/);
    const file = join(cli.home, 'config', 'up', 'config.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(cli.home, 'config', 'up')).mode & 0o777, 0o700);

    // On a terminal the token is asked for, and not echoed.
    const typed = await cli.onTerminal(['login', '--url', stack.url!, '--context', 'bob'], {
      prompt: /token: /,
      answer: `${secrets.bob}\r`,
    });
    assert.equal(typed.code, 0, typed.output);
    assert.ok(!typed.output.includes(secrets.bob), 'the token is not echoed');

    const contexts = JSON.parse((await cli.run(['context', 'list', '-o', 'json'])).stdout);
    assert.equal(contexts.current, 'bob');
    assert.deepEqual(
      contexts.items.map((c: { name: string; user: string }) => `${c.name}:${c.user}`),
      ['alice:alice', 'bob:bob'],
    );
    assert.match((await cli.run(['whoami'])).stdout, /^user {5}bob \(user\)[\s\S]*from {5}context bob/);
    assert.match((await cli.run(['--context', 'alice', 'whoami'])).stdout, /^user {5}alice/);
    assert.equal((await cli.run(['context', 'use', 'alice'])).code, 0);
    const shown = await cli.run(['context', 'show']);
    assert.match(shown.stdout, /context {2}alice \(current\)/);
    assert.ok(!shown.stdout.includes(secrets.alice.slice(36)), 'show never prints the secret part');

    const refused = await cli.run(['context', 'delete', 'bob']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^up: forget the stored login "bob" .*pass --yes\n$/);
    assert.equal((await cli.run(['context', 'delete', 'bob', '--yes'])).code, 0);

    const logout = await cli.run(['logout', '--revoke']);
    assert.equal(logout.code, 0, logout.stderr);
    assert.equal((await api('GET', '/v1/whoami', undefined, secrets.alice)).status, 401, 'the token is revoked');
    assert.deepEqual(JSON.parse((await cli.run(['context', 'list', '--json'])).stdout), { current: null, items: [] });
  });

  test('--as: an admin mints a token for alice as alice; it is hers, the audit shows both; a tenant sending it gets 403', async () => {
    const created = await cli.run(['--as', 'alice', 'tokens', 'create', 'ci', '--json'], { env: admin });
    assert.equal(created.code, 0, created.stderr);
    const token = JSON.parse(created.stdout);
    assert.equal(token.user, 'alice');
    assert.equal((await api('GET', '/v1/whoami', undefined, token.secret)).body.name, 'alice');

    const audit = await cli.run(['audit', '--user', 'alice'], { env: admin });
    assert.match(audit.stdout, new RegExp(`admin as alice +127\\.0\\.0\\.1 +POST /v1/tokens +${token.id}`));
    const whoami = await cli.run(['--as', 'alice', 'whoami'], { env: admin });
    assert.match(whoami.stdout, /^user {5}alice \(user\) — you, acting as this user/);

    const tenant = await cli.run(['--as', 'bob', 'tokens', 'list'], { env: { UP_URL: stack.url!, UP_TOKEN: secrets.bob } });
    assert.equal(tenant.code, 1);
    assert.equal(tenant.stderr, 'up: 403 X-Up-As: only an admin can act as another user\n');
  });

  test('destructive commands ask on a terminal and refuse without --yes otherwise', async () => {
    assert.equal((await api('POST', '/v1/users', { name: 'carol' })).status, 201);
    const refused = await cli.run(['users', 'delete', 'carol'], { env: admin });
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^up: delete user carol\? Their tokens stop working: stdin is not a terminal, so nothing was asked and nothing done; pass --yes\n$/,
    );
    const no = await cli.onTerminal(['users', 'delete', 'carol'], { env: admin, prompt: /delete user carol\? .*\[y\/N\]/, answer: 'n\r' });
    assert.notEqual(no.code, 0, no.output);
    assert.equal((await api('GET', '/v1/users/carol')).body.status, 'active');
    const yes = await cli.onTerminal(['users', 'delete', 'carol'], { env: admin, prompt: /\[y\/N\]/, answer: 'y\r' });
    assert.equal(yes.code, 0, yes.output);
    const carol = (await api('GET', '/v1/users?all=true')).body.items.find((u: { name: string }) => u.name === 'carol');
    assert.equal(carol.status, 'deleted');
    for (const args of [
      ['sites', 'delete', 'x'],
      ['dns', 'zones', 'delete', 'x.test'],
      ['hosts', 'remove', 'x'],
      ['tokens', 'revoke', 'x'],
      ['dns', 'records', 'delete', 'z.test', 'x'],
      ['proxies', 'hosts', 'remove', 'p', 'h'],
    ]) {
      const run = await cli.run(args, { env: admin });
      assert.equal(run.code, 1, args.join(' '));
      assert.match(run.stderr, /stdin is not a terminal.*pass --yes\n$/, args.join(' '));
    }
  });

  test('--wait on a fan-out prints each job as its state changes, with the time since the start', async () => {
    assert.equal(
      (await api('POST', '/v1/hosts', { name: 'web1', address: '192.0.2.10', hostKeySha256: FINGERPRINT('A'), roles: ['proxy'] })).status,
      201,
    );
    assert.equal(
      (await api('POST', '/v1/proxies', { name: 'p1', wildcardDomain: 'p1.example.test', addresses: ['192.0.2.10'] })).status,
      202,
    );
    const run = await cli.run(['proxies', 'hosts', 'add', 'p1', 'web1', '--wait'], { env: admin });
    assert.equal(run.code, 1, 'the job fails: no SSH key in this stack');
    const progress = run.stderr.split('\n').filter(Boolean);
    assert.match(progress[0]!, /^ {2}\[\d+\.\ds\] proxy\/p1@web1: (accepted|queued|running)$/);
    assert.match(progress.at(-1)!, /^ {2}\[\d+\.\ds\] proxy\/p1@web1: failed — UP_SSH_KEY_FILE is not set/);
    assert.match(run.stdout, /^p1 \*\.p1\.example\.test generation \d+\n {2}proxy\/p1@web1: failed/);
    assert.ok(!STACK_FRAME.test(run.stderr));

    // Sites show as text, like the other `show` commands.
    assert.equal((await api('POST', '/v1/websites', { name: 'shop', proxy: 'p1' })).status, 202);
    const site = await cli.run(['sites', 'show', 'shop'], { env: admin });
    assert.match(site.stdout, /^website {5}shop \(owner admin, proxy p1\)\nurl {9}http:\/\/shop-admin\.p1\.example\.test/);
    assert.match(site.stdout, /\nHOST +APPLIED +ERROR\nweb1 /);
  });

  test('hosts repin pins the fingerprint given; alarms list --status', async () => {
    assert.equal((await api('POST', '/v1/hosts', { name: 'web2', address: '192.0.2.11', hostKeySha256: FINGERPRINT('B') })).status, 201);
    const repinned = await cli.run(['hosts', 'repin', 'web2', '--fingerprint', FINGERPRINT('C')], { env: admin });
    assert.equal(repinned.code, 0, repinned.stderr);
    assert.equal(repinned.stdout, `web2: host key ${FINGERPRINT('C')} pinned (was ${FINGERPRINT('B')})\n`);
    assert.equal((await api('GET', '/v1/hosts/web2')).body.hostKeySha256, FINGERPRINT('C'));
    for (const status of ['open', 'cleared', 'all'])
      assert.equal((await cli.run(['alarms', 'list', '--status', status], { env: admin })).code, 0);
  });

  test('completion: bash and zsh scripts, and the subcommands of a group', async () => {
    assert.match((await cli.run(['completion', 'bash'])).stdout, /complete -o bashdefault -o default -F _up_yargs_completions up/);
    assert.match((await cli.run(['completion', 'zsh'])).stdout, /#compdef up/);
    const words = (await cli.run(['--get-yargs-completions', 'sites', ''])).stdout.split('\n');
    for (const word of ['create', 'edit', 'delete', 'list', 'show', 'deploy']) assert.ok(words.includes(word), `${word} in ${words}`);
    assert.ok((await cli.run(['--get-yargs-completions', 'dns', 'zones', ''])).stdout.split('\n').includes('verify'));
  });

  test('`up --version` and `up --help` need no gateway; the help lists every command', async () => {
    const version = await cli.run(['--version']);
    assert.equal(version.stdout.trim(), JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
    const help = await cli.run(['--help']);
    for (const command of ['login', 'logout', 'whoami', 'context', 'completion', 'websites', 'certificates', 'hosts'])
      assert.match(help.stdout, new RegExp(`\\n  up ${command} `));
  });
});
