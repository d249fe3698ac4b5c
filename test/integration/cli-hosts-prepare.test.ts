/**
 * Walk friction 4: `up hosts prepare` of a `dns` host that no DNS server names as its primary
 * installs the packages and sets nothing up; the CLI says so, and what to do, with or without
 * --wait, in text and in JSON. Once a server names the host, it says nothing more.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { testCli } from '../helpers/cli.ts';
import { memoryGateway } from '../helpers/gateway.ts';

const ADMIN = 'cli-prepare-admin-token-0123456789abcdef';
const FINGERPRINT = `SHA256:${'A'.repeat(43)}`;
const NOTE =
  'note: no DNS server names ns1 as primary, so BIND is not set up: it is once `up dns servers add <name> --primary ns1 …` and `up hosts prepare ns1` again';

let gateway: Awaited<ReturnType<typeof memoryGateway>>;
let cli: Awaited<ReturnType<typeof testCli>>;
let env: Record<string, string>;

const api = async (method: 'GET' | 'POST', url: string, payload?: object) => {
  const res = await gateway.app.inject({ method, url, headers: { authorization: `Bearer ${ADMIN}` }, payload });
  return { status: res.statusCode, body: res.json() };
};

before(async () => {
  gateway = await memoryGateway(ADMIN);
  await gateway.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = gateway.app.server.address() as { port: number };
  env = { UP_URL: `http://127.0.0.1:${port}`, UP_TOKEN: ADMIN };
  cli = await testCli();
  for (const [name, roles] of [
    ['ns1', ['dns']],
    ['web1', ['proxy']],
  ] as const)
    assert.equal((await api('POST', '/v1/hosts', { name, address: '192.0.2.53', hostKeySha256: FINGERPRINT, roles })).status, 201);
});
after(async () => {
  cli?.cleanup();
  await gateway?.close();
});

test('a dns host with no DNS server naming it: prepare says BIND waits for `up dns servers add`', async () => {
  const started = await cli.run(['hosts', 'prepare', 'ns1'], { env });
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, /^job \S+ accepted \(up jobs wait \S+\)\n/);
  assert.ok(started.stdout.endsWith(`\n${NOTE}\n`), started.stdout);

  const json = await cli.run(['hosts', 'prepare', 'ns1', '--json'], { env });
  const job = JSON.parse(json.stdout);
  assert.equal(job.op, 'host.prepare');
  assert.deepEqual(job.notes, [NOTE.replace(/^note: /, '')]);

  // With --wait the note ends the report (no handler runs here: the wait times out, exit 2).
  const waited = await cli.run(['hosts', 'prepare', 'ns1', '--wait', '--timeout', '1'], { env });
  assert.equal(waited.code, 2, waited.stderr);
  assert.ok(waited.stdout.endsWith(`\n${NOTE}\n`), waited.stdout);
});

test('no note for a role with nothing to wait for, nor once a DNS server names the host', async () => {
  const proxy = await cli.run(['hosts', 'prepare', 'web1'], { env });
  assert.equal(proxy.code, 0, proxy.stderr);
  assert.doesNotMatch(proxy.stdout, /note:/);
  assert.equal('notes' in JSON.parse((await cli.run(['hosts', 'prepare', 'web1', '--json'], { env })).stdout), false);

  const server = await api('POST', '/v1/dns/servers', {
    name: 'primary',
    primary: 'ns1',
    address: '192.0.2.53',
    keyName: 'up-key',
    secondaries: [],
  });
  assert.equal(server.status, 201, JSON.stringify(server.body));
  const prepared = await cli.run(['hosts', 'prepare', 'ns1'], { env });
  assert.equal(prepared.code, 0, prepared.stderr);
  assert.doesNotMatch(prepared.stdout, /note:/);
});
