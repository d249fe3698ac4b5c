/**
 * Every command of the CLI with bad input, against a running gateway: missing arguments and
 * options, unknown options, words where numbers go, values outside the choices, hostile
 * values (shell metacharacters, traversal, 3000 characters, newlines and bidi controls), and
 * unknown or missing subcommands of every group. The list comes from the commands `up`
 * registers itself (test/helpers/cli-commands.ts), so a new command is walked without a word
 * here. Whatever the input: a message on stderr that starts with `up:`, never a stack trace
 * nor an unexpected error; for input that is wrong on its face, a non-zero exit and nothing
 * on stdout (no help screen).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { STACK_FRAME, testCli, type CliRun } from '../helpers/cli.ts';
import { cliCommands, type LeafCommand } from '../helpers/cli-commands.ts';
import { memoryGateway } from '../helpers/gateway.ts';

const ADMIN = 'cli-bad-input-admin-token-0123456789abcdef';
const HOSTILE = ["'; rm -rf / #$(id)`id` ../../etc/passwd%00%2e%2e", 'x'.repeat(3000), 'a\nb ünï\u202ecode\t\u0007'];

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

interface Case {
  args: string[];
  /** Wrong on its face: must fail, with nothing on stdout. */
  bad: boolean;
}

const fill = (leaf: LeafCommand, value: (name: string) => string) => [
  ...leaf.words,
  ...leaf.positionals.filter((p) => p.required).map((p) => value(p.name)),
  ...leaf.demanded.flatMap((name) => [`--${name}`, value(name)]),
];

function casesOf(leaf: LeafCommand): Case[] {
  const valid = () => 'abc';
  const cases: Case[] = [{ args: [...fill(leaf, valid), '--frobnicate'], bad: true }];
  if (leaf.positionals.some((p) => p.required)) {
    cases.push({ args: [...leaf.words, ...leaf.demanded.flatMap((name) => [`--${name}`, 'abc'])], bad: true });
  }
  for (const missing of leaf.demanded) {
    cases.push({ args: fill({ ...leaf, demanded: leaf.demanded.filter((d) => d !== missing) }, valid), bad: true });
  }
  for (const name of leaf.numbers) cases.push({ args: [...fill(leaf, valid), `--${name}`, 'twelve'], bad: true });
  for (const name of Object.keys(leaf.choices)) cases.push({ args: [...fill(leaf, valid), `--${name}`, 'bogus'], bad: true });
  // Hostile values where the user types words; role commands without any would start a server.
  if (leaf.positionals.length > 0 || (!leaf.role && leaf.demanded.length > 0)) {
    for (const value of HOSTILE) {
      const args = [...leaf.words, ...leaf.positionals.map(() => value), ...leaf.demanded.flatMap((name) => [`--${name}`, value])];
      cases.push({ args: leaf.options.includes('yes') ? [...args, '--yes'] : args, bad: false });
    }
  }
  return cases;
}

/** Runs at most `width` at a time: the machine is shared. */
async function pool<T, R>(items: T[], width: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i]!);
      }
    }),
  );
  return results;
}

function judge(c: Case, run: CliRun): string | null {
  const shown = `up ${c.args.map((a) => (a.length > 40 ? `${JSON.stringify(a.slice(0, 20))}…` : JSON.stringify(a))).join(' ')} → ${run.code}`;
  if (STACK_FRAME.test(run.stderr) || STACK_FRAME.test(run.stdout)) return `${shown}: a stack trace\n${run.stderr.slice(0, 800)}`;
  if (/UP_DEBUG/.test(run.stderr)) return `${shown}: an unexpected error: ${run.stderr.slice(0, 300)}`;
  if (run.code !== 0 && !run.stderr.startsWith('up: '))
    return `${shown}: stderr does not start with "up: ": ${JSON.stringify(run.stderr.slice(0, 300))}`;
  if (c.bad && run.code === 0) return `${shown}: accepted`;
  if (c.bad && run.stdout !== '') return `${shown}: printed on stdout: ${run.stdout.slice(0, 200)}`;
  if (run.code === 128) return `${shown}: did not finish`;
  return null;
}

test('every command refuses bad input with one `up:` message and a non-zero exit, never a stack trace', async () => {
  const { leaves, groups } = await cliCommands();
  assert.ok(leaves.length >= 70, `${leaves.length} commands`);
  const cases: Case[] = [
    { args: [], bad: true },
    { args: ['frobnicate'], bad: true },
    { args: ['--frobnicate'], bad: true },
    { args: ['--as', 'Not A User', 'jobs', 'list'], bad: true },
    { args: ['--output', 'xml', 'jobs', 'list'], bad: true },
    { args: ['--context', '../../etc', 'jobs', 'list'], bad: true },
    { args: ['completion', 'fish'], bad: true },
    ...groups.flatMap((g) => [
      { args: g.words, bad: true },
      { args: [...g.words, 'frobnicate'], bad: true },
    ]),
    ...leaves.flatMap(casesOf),
  ];
  const runs = await pool(cases, 4, (c) => cli.run(c.args, { env, timeoutMs: 90_000 }));
  const failures = cases.map((c, i) => judge(c, runs[i]!)).filter((f): f is string => f !== null);
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases`);
});

test("the review's four crashes are messages naming the problem", async () => {
  await gateway.app.inject({
    method: 'POST',
    url: '/v1/hosts',
    headers: { authorization: `Bearer ${ADMIN}` },
    payload: { name: 'h1', address: '192.0.2.1', hostKeySha256: `SHA256:${'A'.repeat(43)}` },
  });
  const expected: [string[], RegExp][] = [
    [['hosts', 'label', 'h1', 'badpair'], /^up: label "badpair": want key=value \(or key- to remove it\)\n$/],
    [['hosts', 'label', 'h1', 'ok=1', '=v'], /^up: label "=v": want key=value/],
    [['dns', 'records', 'add', 'z.test', 'www', 'BOGUS', '1.2.3.4'], /^up: unknown record type BOGUS/],
    [['dns', 'records', 'add', 'z.test', 'www', 'MX', '10'], /^up: MX needs: <preference> <exchange>\n$/],
    [['dns', 'records', 'add', 'z.test', 'www', 'SRV', '1', 'x', '5060', 'sip'], /^up: SRV <weight> must be a whole number, got "x"\n$/],
    [['certs', 'show', 'nope'], /^up: no certificate for a website named nope/],
  ];
  for (const [args, message] of expected) {
    const run = await cli.run(args, { env });
    assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message, args.join(' '));
  }
});

test('typos: unknown command "crete" with the close names, and the short usage, not the help screen', async () => {
  const typo = await cli.run(['sites', 'crete', 'x'], { env });
  assert.equal(typo.code, 64);
  assert.equal(typo.stdout, '');
  assert.equal(
    typo.stderr,
    'up: unknown command "crete" for "up websites"; did you mean "create"?\nusage: up websites <command>\nsee: up websites --help\n',
  );
  const jobs = await cli.run(['jobs', 'frobnicate'], { env });
  assert.match(jobs.stderr, /^up: unknown command "frobnicate" for "up jobs"\n/);
  const top = await cli.run(['site', 'list'], { env });
  assert.match(top.stderr, /^up: unknown command "site" for "up"; did you mean "websites"\?/);
  const missing = await cli.run(['dns', 'records', 'add', 'z.test'], { env });
  assert.equal(missing.code, 64);
  assert.equal(
    missing.stderr,
    'up: missing <name> <type> <value..>\nusage: up dns records add <zone> <name> <type> <value..> [options]\nsee: up dns records add --help\n',
  );
});
