/**
 * `up websites` and `up certificates` are the commands (the domains' names); `up sites` and
 * `up certs` still work as aliases, and whatever was typed, help, completion and errors name
 * the main noun.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { testCli } from '../helpers/cli.ts';
import { memoryGateway } from '../helpers/gateway.ts';

const ADMIN = 'cli-names-admin-token-0123456789abcdef';

let gateway: Awaited<ReturnType<typeof memoryGateway>>;
let cli: Awaited<ReturnType<typeof testCli>>;
let env: Record<string, string>;

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

const SPELLINGS = [
  ['websites', 'sites'],
  ['certificates', 'certs'],
] as const;

test('both spellings run the same command, with the same output and exit code', async () => {
  for (const [noun, alias] of SPELLINGS) {
    for (const args of [['list'], ['list', '-o', 'json'], ['show', 'nope']]) {
      const main = await cli.run([noun, ...args], { env });
      const short = await cli.run([alias, ...args], { env });
      assert.deepEqual(short, main, `${alias} ${args.join(' ')}`);
      if (args[0] === 'list') assert.equal(main.code, 0, main.stderr);
    }
  }
  const listed = await cli.run(['sites', 'list', '--json'], { env });
  assert.deepEqual(JSON.parse(listed.stdout), []);
});

test('help names the main noun and lists the alias', async () => {
  const help = await cli.run(['--help']);
  assert.match(help.stdout, /\n {2}up websites +websites: .*\[aliases: sites\]/);
  assert.match(help.stdout, /\n {2}up certificates +TLS certificates.*\[aliases: certs\]/s);
  for (const [noun, alias] of SPELLINGS) {
    const group = await cli.run([alias, '--help']);
    assert.equal(group.code, 0);
    assert.deepEqual(group, await cli.run([noun, '--help']));
    assert.match(group.stdout, new RegExp(`^up ${noun}\\n`));
    assert.doesNotMatch(group.stdout, new RegExp(`up ${alias} `));
  }
});

test('usage errors and typos name the main noun', async () => {
  const missing = await cli.run(['sites', 'create'], { env });
  assert.equal(missing.code, 64);
  assert.equal(missing.stderr, 'up: missing <name>\nusage: up websites create <name> [options]\nsee: up websites create --help\n');
  const typo = await cli.run(['certs', 'shwo', 'x'], { env });
  assert.equal(typo.code, 64);
  assert.match(typo.stderr, /^up: unknown command "shwo" for "up certificates"; did you mean "show"\?\n/);
  for (const [word, noun] of [
    ['site', 'websites'],
    ['cert', 'certificates'],
    ['website', 'websites'],
  ]) {
    const top = await cli.run([word, 'list'], { env });
    assert.equal(top.code, 64);
    assert.match(top.stderr, new RegExp(`^up: unknown command "${word}" for "up"; did you mean "${noun}"\\?`));
  }
});

test('completion: the alias completes like the command; the top level offers the main nouns', async () => {
  for (const [noun, alias] of SPELLINGS) {
    const main = (await cli.run(['--get-yargs-completions', noun, ''])).stdout;
    assert.ok(main.split('\n').includes('list'), main);
    assert.equal((await cli.run(['--get-yargs-completions', alias, ''])).stdout, main);
  }
  const top = (await cli.run(['--get-yargs-completions', ''])).stdout.split('\n');
  assert.ok(top.includes('websites') && top.includes('certificates'), top.join(' '));
  assert.ok(!top.includes('sites') && !top.includes('certs'), top.join(' '));
});
