import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { and, Command, script, sh } from '../../lib/exec/command.ts';

const HOSTILE: Array<[string, string]> = [
  ['command substitution', '$(id)'],
  ['backticks', '`id`'],
  ['single quote', "it's"],
  ['double quote', 'say "hi"'],
  ['both quotes and bang', `'"!'"'`],
  ['semicolon', 'a; rm -rf /'],
  ['and-and', 'true && id'],
  ['pipe', 'x | id'],
  ['newline', 'line1\nline2; id\n'],
  ['carriage return', 'a\rb'],
  ['glob', '*'],
  ['glob in path', '/etc/*.conf'],
  ['brace expansion', '{a,b}'],
  ['tilde', '~root'],
  ['leading dash', '-rf'],
  ['variable', '$HOME ${PATH}'],
  ['backslashes', 'a\\b\\\\c\\'],
  ['redirections', '> /tmp/x < /etc/passwd 2>&1'],
  ['comment', '# not a comment'],
  ['assignment', 'A=1'],
  ['empty', ''],
  ['spaces only', '   '],
  ['tab', 'a\tb'],
  ['unicode', 'zürich ☃ 日本 \u2028 \u00a0'],
  ['control bytes', '\x01\x1b[31m\x7f'],
  ['history and parens', '!! (x) [y] ?'],
];

/** Runs text with a real shell and returns stdout as bytes. */
function runShell(shell: string, text: string, stdin?: string): Buffer {
  const args = stdin === undefined ? ['-c', text] : ['-s'];
  const result = spawnSync(shell, args, { input: stdin ?? text, maxBuffer: 16 * 1024 * 1024 });
  assert.equal(result.status, 0, `${shell} failed: ${result.stderr}`);
  return result.stdout;
}

describe('sh tagged template', () => {
  for (const shell of ['sh', 'bash']) {
    for (const [label, value] of HOSTILE) {
      it(`${shell}: ${label} arrives as literal data`, () => {
        const out = runShell(shell, sh`printf '%s' ${value}`.text);
        assert.deepEqual(out, Buffer.from(value));
      });
    }
  }

  it('a 100 KB value of every printable byte and a newline arrives intact', () => {
    let value = '';
    for (let i = 0; value.length < 100 * 1024; i++) value += String.fromCharCode(32 + (i % 95)) + (i % 97 === 0 ? '\n' : '');
    const out = runShell('sh', sh`printf '%s' ${value}`.text);
    assert.equal(out.length, Buffer.byteLength(value));
    assert.deepEqual(out, Buffer.from(value));
  });

  it('hostile values also survive inside a script sent on stdin', () => {
    const values = HOSTILE.map(([, value]) => value);
    const text = script(...values.map((value) => sh`printf '%s\0' ${value}`)).text;
    const out = runShell('sh', '', text);
    assert.deepEqual(out, Buffer.from(values.map((value) => `${value}\0`).join('')));
  });

  it('an array interpolates as several quoted words', () => {
    const words = ['a b', '$(id)', '', '-n'];
    const cmd = sh`printf '[%s]' ${words}`;
    assert.equal(runShell('sh', cmd.text).toString(), '[a b][$(id)][][-n]');
  });

  it('an empty array interpolates as nothing', () => {
    assert.equal(runShell('sh', sh`printf '[%s]' x ${[]}`.text).toString(), '[x]');
  });

  it('numbers interpolate; non-finite numbers are refused', () => {
    assert.equal(sh`chmod ${644} f`.text, 'chmod 644 f');
    assert.equal(sh`kill -- ${-42}`.text, 'kill -- -42');
    assert.throws(() => sh`sleep ${Number.NaN}`, TypeError);
    assert.throws(() => sh`sleep ${Infinity}`, TypeError);
  });

  it('a nested Command is inserted raw, so commands compose', () => {
    const inner = sh`printf '%s' ${'a;b'}`;
    const outer = sh`${inner} && printf '%s' ${'$(c)'}`;
    assert.equal(runShell('sh', outer.text).toString(), 'a;b$(c)');
  });

  it('literal parts reach the shell as written, not through JavaScript escapes', () => {
    assert.equal(sh`printf 'a\tb\n'`.text, "printf 'a\\tb\\n'");
    assert.equal(runShell('sh', sh`printf 'a\tb\n'`.text).toString(), 'a\tb\n');
    assert.equal(runShell('sh', sh`echo x | sed 's/\./!/; s/x/\./'`.text).toString(), '.\n');
  });

  it('NUL is rejected: argv cannot carry it', () => {
    assert.throws(() => sh`echo ${'a\0b'}`, /NUL/);
    assert.throws(() => sh`echo ${['ok', '\0']}`, /NUL/);
  });

  it('undefined, null and objects are rejected instead of quoted', () => {
    const bad = [undefined, null, { toString: () => 'x' }, true] as unknown as string[];
    for (const value of bad) assert.throws(() => sh`echo ${value}`, TypeError);
  });

  it('a Command cannot be built around the template', () => {
    const Forged = Command as unknown as new (token: symbol, text: string) => Command;
    assert.throws(() => new Forged(Symbol('Command'), 'rm -rf /'), TypeError);
  });
});

describe('script', () => {
  it('starts with set -eu and stops at the first failure', () => {
    const text = script(sh`echo one`, sh`false`, sh`echo never`).text;
    assert.match(text, /^set -eu\n/);
    const result = spawnSync('sh', ['-s'], { input: text });
    assert.equal(result.status, 1);
    assert.equal(result.stdout.toString(), 'one\n');
  });

  it('fails on an unset variable', () => {
    const result = spawnSync('sh', ['-s'], { input: script(sh`echo "$NOPE_UNSET"`).text });
    assert.notEqual(result.status, 0);
  });

  it('commands inside cannot read the rest of the script from stdin', () => {
    const text = script(sh`cat`, sh`echo after`).text;
    assert.equal(runShell('sh', '', text).toString(), 'after\n');
  });

  it('a script cut short in transit runs nothing', () => {
    const text = script(sh`echo first`, sh`echo second`).text;
    const cut = text.slice(0, text.indexOf('echo second'));
    const result = spawnSync('sh', ['-s'], { input: cut });
    assert.notEqual(result.status, 0);
    assert.equal(result.stdout.toString(), '');
  });

  it('an empty script is valid', () => {
    assert.equal(runShell('sh', '', script().text).toString(), '');
  });
});

describe('and', () => {
  it('joins with && and stops at the first failure', () => {
    const result = spawnSync('sh', ['-c', and(sh`echo a`, sh`false`, sh`echo b`).text]);
    assert.equal(result.stdout.toString(), 'a\n');
    assert.equal(result.status, 1);
  });
});
