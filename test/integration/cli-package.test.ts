/**
 * The client installs without the server: `npm run build:cli`, `npm pack dist/cli`, then
 * `npm i -g` of the tarball into an empty prefix outside the repository, offline. The
 * installed `up` talks to a gateway, and its role commands say they need the server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { STACK_FRAME, testCli } from '../helpers/cli.ts';
import { memoryGateway } from '../helpers/gateway.ts';

const run = promisify(execFile);
const ADMIN = 'cli-package-admin-token-0123456789abcdef';
const prefix = mkdtempSync(join(tmpdir(), 'up-cli-install-'));
let cli: Awaited<ReturnType<typeof testCli>>;
let gateway: Awaited<ReturnType<typeof memoryGateway>>;
let url: string;

before(async () => {
  cli = await testCli();
  gateway = await memoryGateway(ADMIN);
  await gateway.app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(gateway.app.server.address() as { port: number }).port}`;
});
after(async () => {
  cli?.cleanup();
  await gateway?.close();
  rmSync(prefix, { recursive: true, force: true });
});

test('the client bundle holds no server code', async () => {
  const { buildCli } = await import('../../scripts/build-cli.ts');
  const { inputs } = await buildCli(join(prefix, 'inspect'));
  const server = inputs.filter((i) =>
    /node_modules\/(fastify|@fastify|knex|pg|@electric-sql|ssh2|amqplib|typebox|pino|tsx)\/|^(gateway|handlers|lib\/db|lib\/exec|schedulers)\//.test(
      i,
    ),
  );
  assert.deepEqual(server, []);
});

test('npm i -g of the packed tarball gives a working `up` with no other package', async () => {
  const dir = join(cli.bundle, '..');
  const { stdout } = await run('npm', ['pack', dir, '--pack-destination', prefix, '--json']);
  const [packed] = JSON.parse(stdout) as { filename: string; entryCount: number }[];
  await run('npm', ['i', '-g', '--prefix', join(prefix, 'global'), join(prefix, packed!.filename), '--offline', '--no-audit', '--no-fund']);
  assert.deepEqual(readdirSync(join(prefix, 'global', 'lib', 'node_modules')), ['up-cli'], 'nothing else installed');
  const up = join(prefix, 'global', 'bin', 'up');
  const env = { PATH: process.env.PATH!, HOME: prefix, XDG_CONFIG_HOME: join(prefix, 'config') };

  const version = await run(up, ['--version'], { env, cwd: prefix });
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  const whoami = await run(up, ['whoami'], { env: { ...env, UP_URL: url, UP_TOKEN: ADMIN }, cwd: prefix });
  assert.match(whoami.stdout, /^user {5}admin \(admin\)/);

  const serve = await run(up, ['serve'], { env, cwd: prefix }).catch((error) => error);
  assert.equal(serve.code, 1);
  assert.match(serve.stderr, /^up: this is the `up` client alone: the role commands .* run from a server installation/);
  assert.ok(!STACK_FRAME.test(serve.stderr));
});
