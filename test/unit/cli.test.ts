import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { resolveTarget } from '../../cli/client.ts';
import { suggestions } from '../../cli/command.ts';
import { readConfig, writeConfig, type ConfigFile } from '../../cli/contexts.ts';
import { CliError, reportFailure, UsageError } from '../../cli/errors.ts';
import { commandWord } from '../../cli/main.ts';
import { table, useOutput } from '../../cli/output.ts';
import { USER_NAME_PATTERN } from '../../gateway/users/store.ts';
import { HostKeyMismatchError } from '../../lib/exec/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'up-cli-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('which gateway and token the client uses (walk bug 5)', () => {
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  writeFileSync(join(dataDir, 'admin-token'), 'up_the-stored-admin-token\n');
  const none: ConfigFile = { current: null, contexts: {} };
  const prod: ConfigFile = {
    current: 'prod',
    contexts: { prod: { url: 'https://up.example.net', token: 'prod-token' }, lab: { url: 'http://127.0.0.1:8470', token: 'lab-token' } },
  };
  const env = (extra: Record<string, string>) => ({ UP_DATA_DIR: dataDir, ...extra });

  test('UP_TOKEN set but empty or blank is an error, never the stored admin token', () => {
    for (const value of ['', ' ', '\t', '\n', '  \n ']) {
      for (const config of [none, prod]) {
        assert.throws(
          () => resolveTarget(env({ UP_TOKEN: value }), config),
          (e: CliError) => e.exitCode === 78 && /UP_TOKEN is set but empty/.test(e.message),
          JSON.stringify(value),
        );
      }
    }
  });

  test('UP_URL set but empty is an error too; a malformed one names itself', () => {
    assert.throws(() => resolveTarget(env({ UP_URL: ' ', UP_TOKEN: 't' }), none), /UP_URL is set but empty/);
    assert.throws(() => resolveTarget(env({ UP_URL: '::nope', UP_TOKEN: 't' }), none), /UP_URL is not a URL/);
    assert.throws(() => resolveTarget(env({ UP_URL: 'ftp://x', UP_TOKEN: 't' }), none), /UP_URL must start with http/);
  });

  test('unset: the current context, else the stored admin token for a gateway on this machine only', () => {
    assert.deepEqual(resolveTarget(env({}), prod), {
      url: 'https://up.example.net',
      token: 'prod-token',
      source: 'context prod',
      context: 'prod',
    });
    assert.equal(resolveTarget(env({}), none).token, 'up_the-stored-admin-token');
    assert.equal(resolveTarget(env({ UP_URL: 'http://localhost:9000' }), none).token, 'up_the-stored-admin-token');
    assert.equal(resolveTarget(env({ UP_URL: 'https://other.example.net' }), none).token, null, 'the admin token never leaves the machine');
  });

  test("a context's token goes only to its own gateway", () => {
    assert.equal(resolveTarget(env({ UP_URL: 'https://evil.example.net' }), prod).token, null);
    assert.equal(resolveTarget(env({ UP_URL: 'https://up.example.net/' }), prod).token, 'prod-token');
    assert.equal(resolveTarget(env({ UP_TOKEN: 'mine' }), prod).token, 'mine');
  });

  test('--context wins over UP_URL/UP_TOKEN; an unknown one is an error', () => {
    assert.deepEqual(resolveTarget(env({ UP_URL: 'https://x.example.net', UP_TOKEN: 'env' }), prod, { context: 'lab' }), {
      url: 'http://127.0.0.1:8470',
      token: 'lab-token',
      source: 'context lab',
      context: 'lab',
    });
    assert.throws(() => resolveTarget(env({}), prod, { context: 'nope' }), /no context named "nope"/);
  });
});

describe('the config file', () => {
  test('written 0600 in a 0700 directory; the one-login file of earlier versions reads as context "default"', () => {
    const file = join(dir, 'config', 'up', 'config.json');
    mkdirSync(join(dir, 'config', 'up'), { recursive: true, mode: 0o755 });
    writeFileSync(file, JSON.stringify({ url: 'http://gw:8470', token: 'old' }));
    assert.deepEqual(readConfig(file), { current: 'default', contexts: { default: { url: 'http://gw:8470', token: 'old' } } });
    writeConfig({ current: 'a', contexts: { a: { url: 'http://a', token: 't' } } }, file);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'config', 'up')).mode & 0o777, 0o700);
    assert.equal(readConfig(file).current, 'a');
  });

  test('a file that cannot be read is an error, not an empty configuration', () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{ not json');
    assert.throws(() => readConfig(file), /is not JSON/);
    assert.deepEqual(readConfig(join(dir, 'missing.json')), { current: null, contexts: {} });
  });
});

test('suggestions: the closest names, prefixes first', () => {
  assert.deepEqual(suggestions('crete', ['create', 'edit', 'delete', 'list']), ['create']);
  assert.deepEqual(suggestions('l', ['list', 'label', 'show']), ['list', 'label']);
  assert.deepEqual(suggestions('frobnicate', ['list', 'show']), []);
  assert.deepEqual(suggestions('site', ['sites', 'certs']), ['sites']);
});

test('the command word skips global options and their values', () => {
  assert.equal(commandWord(['--as', 'alice', '-o', 'json', 'sites', 'list']), 'sites');
  assert.equal(commandWord(['--output=json', '--no-headers', 'jobs']), 'jobs');
  assert.equal(commandWord(['--help']), undefined);
});

test('tables: one line per row, multi-line and long values cut, --no-headers', async () => {
  await useOutput({ format: 'table', headers: true });
  const text = table(
    [
      { id: 'a', error: 'nginx: [emerg] bind() failed\nnginx: configuration file test failed' },
      { id: 'b', error: 'x'.repeat(300) },
    ],
    ['id', 'error'],
  );
  const lines = text.split('\n');
  assert.equal(lines.length, 3);
  assert.equal(lines[1], 'a   nginx: [emerg] bind() failed…');
  assert.ok(lines[2]!.length < 130);
  await useOutput({ format: 'table', headers: false });
  assert.deepEqual(table([{ id: 'a' }], ['id']).split('\n'), ['a']);
  await useOutput({ format: 'table', headers: true });
});

test('failures print one line; a stack only with UP_DEBUG', () => {
  const out: string[] = [];
  const write = (t: string) => void out.push(t);
  assert.equal(reportFailure(new CliError('boom'), write), 1);
  assert.equal(reportFailure(new UsageError('missing <name>', 'up sites create <name>', 'up sites create --help'), write), 64);
  assert.equal(reportFailure(new TypeError("Cannot read properties of undefined (reading 'x')"), write), 1);
  assert.equal(reportFailure(Object.assign(new Error('UP_URL is not a valid URL'), { name: 'ConfigError' }), write), 78);
  assert.deepEqual(out, [
    'up: boom\n',
    'up: missing <name>\nusage: up sites create <name>\nsee: up sites create --help\n',
    "up: Cannot read properties of undefined (reading 'x') (set UP_DEBUG=1 for the details)\n",
    'up: UP_URL is not a valid URL\n',
  ]);
});

test('the CLI checks --as with the API user name pattern', async () => {
  const source = (await import('node:fs')).readFileSync(new URL('../../cli/main.ts', import.meta.url), 'utf8');
  assert.ok(source.includes(`/${USER_NAME_PATTERN}/`), 'cli/main.ts USER_NAME follows lib/db/users.ts');
});

test('a host key mismatch says how to re-pin the host, with the CLI and with the API', () => {
  const error = new HostKeyMismatchError('web1', 'SHA256:old', 'SHA256:new');
  assert.equal(
    error.message,
    'web1: host key mismatch: pinned SHA256:old, offered SHA256:new. If the host was reinstalled and you have checked the new key on its console, pin it: up hosts repin web1 --fingerprint SHA256:new (API: PATCH /v1/hosts/web1 {"hostKeySha256": "SHA256:new", "rekey": true})',
  );
  // What the API hint says is what PATCH /v1/hosts/{name} takes (gateway/hosts/routes.ts).
  const hint = JSON.parse(/ (\{.*\})\)$/.exec(error.message)![1]!);
  assert.deepEqual(hint, { hostKeySha256: 'SHA256:new', rekey: true });
});
