import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommandError, TransientExecError, tail } from '../../lib/exec/errors.ts';
import { describe as describeError, PermanentError } from '../../lib/errors.ts';
import { mayNeedSafeText, safeText, safeValue } from '../../lib/safe-text.ts';

test('NUL and other control characters become visible escapes; tab and newlines stay', () => {
  assert.equal(safeText('web1: cat exited 1: \u0000\u0001 binary output'), 'web1: cat exited 1: \\x00\\x01 binary output');
  assert.equal(safeText('a\tb\nc\r\n'), 'a\tb\nc\r\n');
  assert.equal(safeText('\u001b[31mred\u001b[0m\u007f\b\f\v'), '\\x1b[31mred\\x1b[0m\\x7f\\x08\\x0c\\x0b');
});

test('unpaired surrogates, at either end or alone, become U+FFFD; pairs and other text stay', () => {
  assert.equal(safeText('\ud800'), '\ufffd');
  assert.equal(safeText('x\udc00y'), 'x\ufffdy');
  assert.equal(safeText('\udc00\ud800'), '\ufffd\ufffd', 'low then high is no pair');
  assert.equal(safeText('ok \ud83d\ude00 é ß 日本'), 'ok \ud83d\ude00 é ß 日本');
  // A tail cut in the middle of a pair.
  assert.equal(safeText('\ude00 end'), '\ufffd end');
});

test('safeValue cleans every string of a JSON value, keys included, and keeps the rest', () => {
  const value = { 'k\u0000': ['\ud800', 1, null, true, { deep: 'x\u0000y' }], n: 2.5 };
  assert.deepEqual(safeValue(value), { 'k\\x00': ['\ufffd', 1, null, true, { deep: 'x\\x00y' }], n: 2.5 });
});

test('mayNeedSafeText finds every escape JSON uses for what safeText changes, and passes plain text', () => {
  for (const s of ['\u0000', '\u0001', '\u001f', '\u007f', '\b', '\f', '\ud800', '\udfff']) {
    assert.ok(mayNeedSafeText(JSON.stringify({ m: s })), JSON.stringify(s));
  }
  assert.ok(mayNeedSafeText('{"m":"\\u0000"}'), 'an escape written by hand');
  assert.ok(!mayNeedSafeText(JSON.stringify({ m: 'plain text\twith a tab\nand é \ud83d\ude00', n: 1 })));
});

test("a remote command's stderr reaches the message escaped (tail, CommandError, TransientExecError)", () => {
  assert.equal(tail('\u0000\u0001 binary output\n'), '\\x00\\x01 binary output');
  const failed = new CommandError({ host: 'web1', exitCode: 1, signal: null, stdout: '', stderr: '\u0000\u0001 binary output' }, 'cat');
  assert.equal(failed.message, 'web1: cat exited 1: \\x00\\x01 binary output');
  const lost = new TransientExecError('web1', 'CONNECTION_LOST', 'lost', { stderr: 'x\ud800' });
  assert.equal(lost.message, 'web1: lost: x\ufffd');
  // The end of a long output may begin in the middle of a surrogate pair.
  assert.equal(tail(`${'\ud83d\ude00'.repeat(3000)}x`).slice(0, 2), '…\ufffd');
});

test('describe() never hands on a NUL or an unpaired surrogate, whatever threw', () => {
  assert.deepEqual(describeError(new PermanentError('bad\u0000', { code: 'X\u0000' })), {
    kind: 'permanent',
    message: 'bad\\x00',
    code: 'X\\x00',
  });
  assert.equal(describeError('thrown string \ud800').message, 'thrown string \ufffd');
});
