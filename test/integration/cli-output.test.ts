/**
 * Walk friction 8, the CLI's output: every `show` prints text for people unless asked for
 * JSON; `jobs list` keeps one line per job when an error runs over several lines (the whole
 * text is in `jobs show`); `alarms list --status open|cleared|all`; and the OpenAPI document
 * does not require query parameters that have a default.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openApiDocument } from '../../scripts/openapi.ts';
import { testCli } from '../helpers/cli.ts';
import { memoryGateway } from '../helpers/gateway.ts';

const ADMIN = 'cli-output-admin-token-0123456789abcdef';
const FINGERPRINT = `SHA256:${'A'.repeat(43)}`;
const NGINX_ERROR = 'nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)\nnginx: configuration file test failed';

let gateway: Awaited<ReturnType<typeof memoryGateway>>;
let cli: Awaited<ReturnType<typeof testCli>>;
let env: Record<string, string>;

const api = async (method: string, url: string, payload?: object) => {
  const res = await gateway.app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${ADMIN}` }, payload });
  return { status: res.statusCode, body: res.json() };
};

before(async () => {
  gateway = await memoryGateway(ADMIN);
  await gateway.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = gateway.app.server.address() as { port: number };
  env = { UP_URL: `http://127.0.0.1:${port}`, UP_TOKEN: ADMIN };
  cli = await testCli();
});
after(async () => {
  cli?.cleanup();
  await gateway?.close();
});

const isJson = (text: string) => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

test('every `show` prints text without --json, and JSON with it', async () => {
  assert.equal((await api('POST', '/v1/users', { name: 'alice' })).status, 201);
  assert.equal((await api('POST', '/v1/hosts', { name: 'web1', address: '192.0.2.10', hostKeySha256: FINGERPRINT })).status, 201);
  assert.equal(
    (await api('POST', '/v1/proxies', { name: 'p1', wildcardDomain: 'p1.example.test', addresses: ['192.0.2.10'] })).status,
    202,
  );
  assert.equal((await api('POST', '/v1/websites', { name: 'shop', proxy: 'p1' })).status, 202);
  const ping = await api('POST', '/v1/system/ping', {});
  assert.equal(ping.status, 202, JSON.stringify(ping.body));

  const shows: [string[], RegExp][] = [
    [['users', 'show', 'alice'], /alice/],
    [['hosts', 'show', 'web1'], /web1/],
    [['proxies', 'show', 'p1'], /^p1 \*\.p1\.example\.test/],
    [['websites', 'show', 'shop'], /^website {5}shop \(owner admin, proxy p1\)\n/],
    [['sites', 'show', 'shop'], /^website {5}shop/],
    [['jobs', 'show', ping.body.id], new RegExp(`^job {6}${ping.body.id}\\n`)],
  ];
  for (const [args, text] of shows) {
    const human = await cli.run(args, { env });
    assert.equal(human.code, 0, `${args.join(' ')}: ${human.stderr}`);
    assert.ok(!isJson(human.stdout), `${args.join(' ')} printed JSON:\n${human.stdout}`);
    assert.match(human.stdout, text, args.join(' '));
    for (const flag of [['--json'], ['-o', 'json']]) {
      const json = await cli.run([...args, ...flag], { env });
      assert.ok(isJson(json.stdout), `${args.join(' ')} ${flag.join(' ')}`);
    }
  }
});

test('jobs list: a multi-line error shows its first line, cut, in one row; jobs show has all of it', async () => {
  const { body: job } = await api('POST', '/v1/system/ping', {});
  await gateway.database
    .knex('jobs')
    .where({ id: job.id })
    .update({ status: 'failed', error: JSON.stringify({ kind: 'permanent', message: NGINX_ERROR }) });
  const listed = await cli.run(['jobs', 'list'], { env });
  assert.equal(listed.code, 0, listed.stderr);
  const lines = listed.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 1 + (await api('GET', '/v1/jobs?limit=500')).body.items.length, listed.stdout);
  assert.match(
    lines.find((l) => l.startsWith(job.id))!,
    / failed .*nginx: \[emerg\] bind\(\) to 0\.0\.0\.0:80 failed \(98: Address already in use\)…$/,
  );
  assert.doesNotMatch(listed.stdout, /configuration file test failed/);

  const shown = await cli.run(['jobs', 'show', job.id], { env });
  assert.ok(shown.stdout.includes(NGINX_ERROR), shown.stdout);
});

test('alarms list --status open|cleared|all asks the API for those alarms', async () => {
  const knex = gateway.database.knex;
  const at = new Date('2026-01-02T03:04:05Z');
  const alarm = (id: string, cause: string, status: 'open' | 'cleared') => ({
    id,
    resource_type: 'proxy',
    resource_key: `p1@${cause}`,
    cause,
    message: `${cause} message`,
    status,
    first_seen: at,
    last_seen: at,
    count: 1,
    ...(status === 'cleared' ? { cleared_at: at } : {}),
  });
  await knex('alarms').insert([
    alarm('00000000-0000-4000-8000-000000000001', 'nginx-stopped', 'open'),
    alarm('00000000-0000-4000-8000-000000000002', 'vhost-missing', 'cleared'),
  ]);
  const causes = async (...args: string[]) => {
    const run = await cli.run(['alarms', 'list', ...args], { env });
    assert.equal(run.code, 0, run.stderr);
    return run.stdout;
  };
  const open = await causes();
  assert.match(open, /nginx-stopped/);
  assert.doesNotMatch(open, /vhost-missing/);
  assert.equal(await causes('--status', 'open'), open);
  const cleared = await causes('--status', 'cleared');
  assert.match(cleared, /vhost-missing +cleared/);
  assert.doesNotMatch(cleared, /nginx-stopped/);
  const all = await causes('--status', 'all');
  assert.match(all, /nginx-stopped/);
  assert.match(all, /vhost-missing/);
  const json = JSON.parse(await causes('--status', 'all', '--json'));
  assert.deepEqual(json.items.map((a: { cause: string }) => a.cause).sort(), ['nginx-stopped', 'vhost-missing']);

  const bad = await cli.run(['alarms', 'list', '--status', 'closed'], { env });
  assert.equal(bad.code, 64);
  assert.match(bad.stderr, /^up: --status "closed" is not one of "open", "cleared", "all"\n/);
});

test('OpenAPI: GET /v1/alarms has status, limit and after as optional query parameters with their defaults', async () => {
  const doc = (await openApiDocument()) as { paths: Record<string, Record<string, { parameters?: any[] }>> };
  const parameters = doc.paths['/v1/alarms']!.get!.parameters!.filter((p) => p.in === 'query');
  assert.deepEqual(parameters.map((p) => [p.name, p.required ?? false, p.schema.default]).sort(), [
    ['after', false, undefined],
    ['limit', false, 100],
    ['status', false, 'open'],
  ]);
  // And everywhere: a query parameter with a default is never required.
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, operation] of Object.entries(item))
      for (const p of operation.parameters ?? [])
        if (p.in === 'query' && p.schema?.default !== undefined) assert.ok(!p.required, `${method.toUpperCase()} ${path} ?${p.name}`);
});
