/**
 * Secrets end to end on real podman: a lab host of the containers role, two tenants, the
 * pipeline in-process. What a person would check: the container reads the value (as a file and
 * as a variable); the value is nowhere else — not in any job row, not in what the roles logged,
 * not in `podman inspect`, not in the secrets table (which holds a ciphertext that opens only
 * for its owner and name); a new value reaches the container; the other tenant can neither read,
 * list, delete nor use it; hostile names are refused; `up secrets set` reads stdin.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { open, secretAad } from '../../lib/secrets/sealing.ts';
import { labHosts, registerLabHost, type Lab, type LabHost } from '../helpers/lab-hosts.ts';
import { BUSYBOX_IMAGE, importBusybox, onHost, PODMAN_PRIVATE_DIRS, removeContainers } from '../helpers/podman-lab.ts';
import { runUp } from '../helpers/processes.ts';
import { useSecretsKey, type SecretsKey } from '../helpers/secrets-key.ts';
import { startStack } from '../helpers/stack.ts';
import { tenantsWithTokens } from '../helpers/tenants.ts';
import { stackApi } from '../helpers/stack-api.ts';
import { isolateSubids, removeUnixUsers } from '../helpers/unix-users.ts';

const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);
const TENANTS = ['secalice', 'secbob'];
type Json = Record<string, any>;
type Stack = Awaited<ReturnType<typeof startStack>>;

/** Values no other text in the test run contains: found anywhere, they leaked. */
const TOKEN_V1 = `tok1-${randomBytes(12).toString('hex')}`;
const TOKEN_V2 = `tok2-${randomBytes(12).toString('hex')}`;
const DB_PASSWORD = `dbp-${randomBytes(12).toString('hex')}`;
const BOB_TOKEN = `bob-${randomBytes(12).toString('hex')}`;
const CLI_VALUE = `cli-${randomBytes(12).toString('hex')}`;
const PLAINTEXTS = [TOKEN_V1, TOKEN_V2, DB_PASSWORD, BOB_TOKEN, CLI_VALUE];

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

describe('secrets for containers on real podman', { timeout: 300_000 }, () => {
  let lab: Lab;
  let host: LabHost;
  let stack: Stack;
  let secretsKey: SecretsKey;
  let key: Buffer;
  const logged: string[] = [];
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};

  const { api, settled } = stackApi(() => stack, tokens);
  const admin = api('admin');
  const alice = api('secalice');
  const bob = api('secbob');

  async function succeeded(jobs: Json[]): Promise<void> {
    for (const job of jobs) {
      const done = await settled(job);
      assert.equal(done.status, 'succeeded', `${done.op} on ${done.target}: ${JSON.stringify(done.error)}`);
    }
  }

  const inContainer = async (key: string, command: string) =>
    (await onHost(host, `podman exec ${key} sh -c '${command}'`)).replace(/\n$/, '');

  before(async () => {
    await removeUnixUsers(TENANTS);
    lab = await labHosts(1, { prefix: 'up-sec', subnet: '10.77.86', bridge: 'uplab86', privateDirs: PODMAN_PRIVATE_DIRS });
    [host] = lab.hosts;
    process.env.UP_SSH_KEY_FILE = host.privateKeyFile;
    secretsKey = useSecretsKey();
    key = secretsKey.key;
    // Every line every role logs, at debug: the plaintext must be in none.
    stack = await startStack({ env: { UP_LOG_LEVEL: 'debug' }, logTo: { write: (line: string) => void logged.push(line) } });
    const db = stack.database!.knex;
    await registerLabHost(db, host, ['containers']);
    Object.assign(tokens, await tenantsWithTokens(db, TENANTS));
    await isolateSubids(db, TENANTS);
    for (const name of TENANTS) ids[name] = (await db('users').where({ name }).first('id')).id;

    const prepared = await admin('POST', `/v1/hosts/${host.name}/prepare`);
    assert.equal((await settled(prepared.body)).status, 'succeeded');
    const setup = await retrying(async () => {
      const { body } = await admin('GET', '/v1/jobs?op=container.host.setup');
      const job = body.items[0];
      assert.ok(job && FINAL.has(job.status), 'container.host.setup has not finished yet');
      return job;
    }, 60_000);
    assert.equal(setup.status, 'succeeded', JSON.stringify(setup.error));
    await importBusybox(host);
  });

  after(async () => {
    await stack?.shutdown();
    if (host) await removeContainers(host);
    if (host) await onHost(host, 'podman secret ls -q | xargs -r podman secret rm >/dev/null 2>&1; true').catch(() => undefined);
    await lab?.down();
    await removeUnixUsers(TENANTS);
    secretsKey?.remove();
  });

  test('a secret is set, listed by name only, and setting the same value again changes nothing', async () => {
    const created = await alice('PUT', '/v1/secrets/token', { value: TOKEN_V1 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(
      { name: created.body.secret.name, version: created.body.secret.version, jobs: created.body.jobs },
      { name: 'token', version: 1, jobs: [] },
    );
    assert.equal((await alice('PUT', '/v1/secrets/db_pass', { value: DB_PASSWORD })).status, 201);
    const again = await alice('PUT', '/v1/secrets/token', { value: TOKEN_V1 });
    assert.equal(again.status, 200);
    assert.equal(again.body.secret.version, 1);
    assert.deepEqual(again.body.jobs, []);
    const list = await alice('GET', '/v1/secrets');
    assert.deepEqual(
      list.body.items.map((s: Json) => s.name),
      ['db_pass', 'token'],
    );
    assert.ok(!PLAINTEXTS.some((p) => JSON.stringify(list.body).includes(p)), 'the list shows no value');
  });

  test('the container reads one secret as a file and one as a variable; podman inspect shows neither value', async () => {
    const created = await alice('POST', '/v1/containers', {
      name: 'app',
      image: BUSYBOX_IMAGE,
      command: ['sh', '-c', 'printf %s "$DB_PASSWORD" > /tmp/env-seen; exec sleep 100000'],
      limits: { memoryMb: 64 },
      secrets: [{ name: 'token' }, { name: 'db_pass', env: 'DB_PASSWORD' }],
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    await succeeded(created.body.jobs);
    assert.equal(await inContainer('app-secalice', 'cat /run/secrets/token'), TOKEN_V1);
    assert.equal(await retrying(async () => inContainer('app-secalice', 'cat /tmp/env-seen'), 10_000), DB_PASSWORD);
    // Mode 0444 where it is mounted: the container's processes read it; one that is not root there cannot change it.
    assert.equal(await inContainer('app-secalice', 'stat -c %a /run/secrets/token'), '444');
    assert.equal(
      await onHost(
        host,
        'podman exec --user 65534:65534 app-secalice sh -c \'cat /run/secrets/token; echo x > /run/secrets/token\' 2>/dev/null; echo " exit $?"',
      ),
      `${TOKEN_V1} exit 1\n`,
    );
    const inspected = await onHost(host, 'podman container inspect app-secalice');
    for (const value of PLAINTEXTS) assert.ok(!inspected.includes(value), 'podman inspect shows no secret value');
    assert.match(inspected, /up\.secalice\.token/, 'it names the podman secret');
    // Podman's secret store: root's only.
    assert.equal(
      (await onHost(host, 'stat -c "%U %a" /var/lib/containers/storage/secrets/filedriver/secretsdata.json')).trim().split(' ')[0],
      'root',
    );
    assert.match((await onHost(host, 'stat -c "%a" /var/lib/containers/storage/secrets/filedriver/secretsdata.json')).trim(), /^[67]00$/);
    const shown = await alice('GET', '/v1/containers/app');
    assert.deepEqual(shown.body.secrets, [{ name: 'token' }, { name: 'db_pass', env: 'DB_PASSWORD' }]);
  });

  test('a new value re-applies the container that reads it, which then sees it', async () => {
    const replaced = await alice('PUT', '/v1/secrets/token', { value: TOKEN_V2 });
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    assert.equal(replaced.body.secret.version, 2);
    assert.deepEqual(replaced.body.secret.usedBy, ['app']);
    assert.ok(
      replaced.body.jobs.some((j: Json) => j.op === 'container.apply'),
      'the container is applied again',
    );
    await succeeded(replaced.body.jobs);
    assert.equal(await inContainer('app-secalice', 'cat /run/secrets/token'), TOKEN_V2);
    assert.equal(await retrying(async () => inContainer('app-secalice', 'cat /tmp/env-seen'), 10_000), DB_PASSWORD);
  });

  test('a key rotation: rekey seals every value again with the new key and the old one can go; new values still reach the container', async () => {
    const db = stack.database!.knex;
    const file = process.env.UP_SECRETS_KEY_FILE!;
    const fresh = randomBytes(32);
    writeFileSync(file, `${fresh.toString('base64')}\n${key.toString('base64')}\n`, { mode: 0o600 });
    assert.equal((await alice('POST', '/v1/secrets/rekey')).status, 403, 'admins only');
    const env = { UP_URL: stack.url!, UP_TOKEN: stack.adminToken!, UP_LOG_LEVEL: 'silent' };
    const rekeyed = await runUp(['secrets', 'rekey', '--json'], env);
    assert.equal(rekeyed.code, 0, rekeyed.stderr + rekeyed.stdout);
    const report = JSON.parse(rekeyed.stdout);
    const rows: Json[] = await db('secrets').select('owner_id', 'name', 'ciphertext');
    assert.deepEqual(report, { checked: rows.length, resealed: rows.length, unreadable: [] });
    for (const row of rows) {
      assert.ok(PLAINTEXTS.includes(open(fresh, secretAad(row.owner_id, row.name), row.ciphertext).toString()), 'opens with the new key');
      assert.throws(() => open(key, secretAad(row.owner_id, row.name), row.ciphertext), 'not with the old one');
    }
    assert.equal(JSON.parse((await runUp(['secrets', 'rekey', '--json'], env)).stdout).resealed, 0, 'once is enough');
    // The old line goes: the same value is still known as the same, a new one still reaches the container.
    writeFileSync(file, `${fresh.toString('base64')}\n`, { mode: 0o600 });
    key = fresh;
    const again = await alice('PUT', '/v1/secrets/db_pass', { value: DB_PASSWORD });
    assert.equal(again.body.jobs.length, 0, 'the same value: nothing to apply');
    const replaced = await alice('PUT', '/v1/secrets/token', { value: TOKEN_V1 });
    await succeeded(replaced.body.jobs);
    assert.equal(await inContainer('app-secalice', 'cat /run/secrets/token'), TOKEN_V1);
    assert.equal(await retrying(async () => inContainer('app-secalice', 'cat /tmp/env-seen'), 10_000), DB_PASSWORD);
    const plain = await alice('PUT', '/v1/secrets/token', { value: TOKEN_V2 });
    await succeeded(plain.body.jobs);
    assert.equal(await inContainer('app-secalice', 'cat /run/secrets/token'), TOKEN_V2);
  });

  test("the other tenant cannot read, list, delete or use a tenant's secret; theirs of the same name is their own", async () => {
    assert.deepEqual((await bob('GET', '/v1/secrets')).body.items, []);
    assert.equal((await bob('GET', '/v1/secrets/token')).status, 404);
    assert.equal((await bob('DELETE', '/v1/secrets/token')).status, 404);
    const using = await bob('POST', '/v1/containers', { name: 'thief', image: BUSYBOX_IMAGE, secrets: [{ name: 'token' }] });
    assert.equal(using.status, 400, JSON.stringify(using.body));
    assert.match(using.body.message, /no secret named token/);
    assert.equal((await bob('GET', '/v1/containers/thief')).status, 404, 'nothing was created');
    // Bob's own `token` is another secret: Alice's container keeps reading hers.
    const hers = (await alice('GET', '/v1/secrets/token')).body.version;
    assert.equal((await bob('PUT', '/v1/secrets/token', { value: BOB_TOKEN })).status, 201);
    assert.equal((await alice('GET', '/v1/secrets/token')).body.version, hers);
    assert.equal(await inContainer('app-secalice', 'cat /run/secrets/token'), TOKEN_V2);
    // The admin sees both, and must say whose.
    assert.equal((await admin('GET', '/v1/secrets/token')).status, 409);
    assert.equal((await admin('GET', '/v1/secrets/token?owner=secbob')).body.owner, 'secbob');
  });

  test('hostile names and values are refused with 400; a secret in use is not deleted (409)', async () => {
    for (const name of ['..%2Fx', 'a%3Brm', '--x', 'A', `a${'b'.repeat(63)}`, 'x%20y', '.hidden']) {
      const res = await alice('PUT', `/v1/secrets/${name}`, { value: 'v' });
      assert.equal(res.status, 400, `${name}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.message, /name|path/);
    }
    assert.equal((await alice('PUT', '/v1/secrets/ok', { value: '' })).status, 400);
    assert.equal((await alice('PUT', '/v1/secrets/ok', { value: 'é'.repeat(40_000) })).status, 400, '80,000 bytes is too much');
    assert.equal((await alice('PUT', '/v1/secrets/ok', { value: 'v', owner: 'secbob' })).status, 400);
    for (const secrets of [
      [{ name: '../x' }],
      [{ name: 'token', env: 'A=B' }],
      [{ name: 'token', env: '$(id)' }],
      [{ name: 'token' }, { name: 'token' }],
      [
        { name: 'token', env: 'X' },
        { name: 'db_pass', env: 'X' },
      ],
    ]) {
      const res = await alice('PATCH', '/v1/containers/app', { secrets });
      assert.equal(res.status, 400, `${JSON.stringify(secrets)}: ${JSON.stringify(res.body)}`);
    }
    const inUse = await alice('DELETE', '/v1/secrets/token');
    assert.equal(inUse.status, 409);
    assert.match(inUse.body.message, /app/);
  });

  test('`up secrets set` reads the value on stdin; `up secrets list --json` shows names only', async () => {
    const env = { UP_URL: stack.url!, UP_TOKEN: tokens.secalice, UP_LOG_LEVEL: 'silent' };
    const set = await runUp(['secrets', 'set', 'from_cli'], env, `${CLI_VALUE}\n`);
    assert.equal(set.code, 0, set.stderr);
    const row = await stack.database!.knex('secrets').where({ owner_id: ids.secalice, name: 'from_cli' }).first();
    assert.equal(open(key, secretAad(ids.secalice, 'from_cli'), row.ciphertext).toString(), CLI_VALUE, 'one trailing newline dropped');
    const list = await runUp(['secrets', 'list', '--json'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      JSON.parse(list.stdout).map((s: Json) => s.name),
      ['db_pass', 'from_cli', 'token'],
    );
    assert.ok(!PLAINTEXTS.some((p) => list.stdout.includes(p)));
    const refused = await runUp(['secrets', 'set', 'empty'], env, '');
    assert.equal(refused.code, 1, 'no value, nothing stored');
  });

  test('deleting the container removes its podman secrets; then the secret itself can go', async () => {
    const gone = await alice('DELETE', '/v1/containers/app');
    assert.equal(gone.status, 202);
    await succeeded([gone.body]);
    assert.doesNotMatch(await onHost(host, "podman secret ls --format '{{.Name}}'"), /up\.secalice\./);
    assert.equal((await alice('DELETE', '/v1/secrets/token')).status, 204);
    assert.equal((await alice('GET', '/v1/secrets/token')).status, 404);
  });

  test('the values are nowhere at rest but sealed: not in any job row, any log line, nor the secrets table in the clear', async () => {
    const db = stack.database!.knex;
    const jobs: string[] = (await db.raw('select row_to_json(j)::text as row from jobs j')).rows.map((r: Json) => r.row);
    assert.ok(jobs.length > 5 && jobs.some((j) => j.includes('"sealed"')), 'the apply jobs are there, carrying sealed values');
    for (const value of PLAINTEXTS) {
      assert.ok(!jobs.some((j) => j.includes(value)), 'no job row holds a value');
      assert.ok(!logged.some((line) => line.includes(value)), 'no log line holds a value');
    }
    assert.ok(
      logged.some((line) => line.includes('container secrets delivered')),
      `the handlers' lines are among those read (${logged.length})`,
    );
    const rows: Json[] = await db('secrets').select('owner_id', 'name', 'ciphertext');
    for (const row of rows) {
      assert.ok(!PLAINTEXTS.some((p) => row.ciphertext.includes(p)));
      const value = open(key, secretAad(row.owner_id, row.name), row.ciphertext).toString();
      assert.ok(PLAINTEXTS.includes(value), 'it opens with its own owner and name');
      const other = row.owner_id === ids.secalice ? ids.secbob : ids.secalice;
      assert.throws(() => open(key, secretAad(other, row.name), row.ciphertext), 'not as another owner');
      assert.throws(() => open(key, secretAad(row.owner_id, `${row.name}x`), row.ciphertext), 'not under another name');
      assert.throws(() => open(randomBytes(32), secretAad(row.owner_id, row.name), row.ciphertext), 'not with another key');
    }
  });

  test('a gateway without a key says so (503) and stores nothing', async () => {
    const file = process.env.UP_SECRETS_KEY_FILE;
    delete process.env.UP_SECRETS_KEY_FILE;
    try {
      const res = await alice('PUT', '/v1/secrets/later', { value: 'v' });
      assert.equal(res.status, 503);
      assert.match(res.body.message, /UP_SECRETS_KEY_FILE/);
    } finally {
      process.env.UP_SECRETS_KEY_FILE = file;
    }
    assert.equal((await alice('GET', '/v1/secrets/later')).status, 404);
  });
});
