import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ensureSecretsKeyFile,
  loadSecretsKey,
  loadSecretsKeys,
  open,
  openWithAny,
  SealError,
  seal,
  secretAad,
  secretDigest,
} from '../../lib/secrets/sealing.ts';

const key = randomBytes(32);
const alice = '0193a5c6-7e8f-7091-a213-c4d5e6f70820';
const bob = '0193a5c6-7e8f-7091-a213-c4d5e6f70821';
const value = Buffer.from('hunter2 — with ünïcode\n');

test('a sealed value opens with the same key, owner and name, and never shows the plaintext', () => {
  const sealed = seal(key, secretAad(alice, 'db'), value);
  assert.match(sealed, /^v1\.[A-Za-z0-9_-]+$/);
  assert.ok(!sealed.includes('hunter2') && !Buffer.from(sealed).includes(value));
  assert.deepEqual(open(key, secretAad(alice, 'db'), sealed), value);
  // A fresh IV each time: the same value seals differently.
  assert.notEqual(seal(key, secretAad(alice, 'db'), value), sealed);
});

test("a secret's digest changes with its version and row, not with how it is sealed", () => {
  const id = '0193a5c6-7e8f-7091-a213-c4d5e6f70830';
  assert.match(secretDigest(id, 1), /^[0-9a-f]{16}$/);
  assert.equal(secretDigest(id, 1), secretDigest(id, 1));
  assert.notEqual(secretDigest(id, 2), secretDigest(id, 1));
  assert.notEqual(secretDigest(alice, 1), secretDigest(id, 1));
});

test('a wrong key, another owner or name, or any change to the sealed text fails', () => {
  const sealed = seal(key, secretAad(alice, 'db'), value);
  assert.throws(() => open(randomBytes(32), secretAad(alice, 'db'), sealed), SealError);
  assert.throws(() => open(key, secretAad(bob, 'db'), sealed), SealError);
  assert.throws(() => open(key, secretAad(alice, 'dc'), sealed), SealError);
  const raw = Buffer.from(sealed.slice(3), 'base64url');
  for (const at of [0, 12, 28, raw.length - 1]) {
    const tampered = Buffer.from(raw);
    tampered[at] ^= 1;
    assert.throws(() => open(key, secretAad(alice, 'db'), `v1.${tampered.toString('base64url')}`), SealError, `byte ${at}`);
  }
  assert.throws(() => open(key, secretAad(alice, 'db'), `v1.${raw.subarray(0, 20).toString('base64url')}`), SealError);
  assert.throws(() => open(key, secretAad(alice, 'db'), sealed.replace('v1.', 'v2.')), SealError);
  assert.throws(() => seal(randomBytes(16), secretAad(alice, 'db'), value), SealError);
});

test('the key file: made once 0600 by the embedded default, read raw, base64 or hex, refused when others can read it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'up-sealing-'));
  try {
    const file = ensureSecretsKeyFile(join(dir, 'data'));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const first = readFileSync(file, 'utf8');
    assert.equal(ensureSecretsKeyFile(join(dir, 'data')), file);
    assert.equal(readFileSync(file, 'utf8'), first, 'kept, never made again');
    assert.equal(loadSecretsKey({ UP_SECRETS_KEY_FILE: file })?.length, 32);

    const k = randomBytes(32);
    for (const [name, content] of [
      ['raw', k],
      ['hex', `${k.toString('hex')}\n`],
      ['b64', `${k.toString('base64')}\n`],
    ] as const) {
      writeFileSync(join(dir, name), content, { mode: 0o600 });
      assert.deepEqual(loadSecretsKey({ UP_SECRETS_KEY_FILE: join(dir, name) }), k, name);
    }
    writeFileSync(join(dir, 'short'), 'too short', { mode: 0o600 });
    assert.throws(() => loadSecretsKey({ UP_SECRETS_KEY_FILE: join(dir, 'short') }), /must hold 32 bytes/);
    writeFileSync(join(dir, 'open'), k.toString('hex'), { mode: 0o644 });
    assert.throws(() => loadSecretsKey({ UP_SECRETS_KEY_FILE: join(dir, 'open') }), /must not be readable by others/);
    assert.throws(() => loadSecretsKey({ UP_SECRETS_KEY_FILE: join(dir, 'missing') }), /cannot read .*ENOENT/);
    assert.equal(loadSecretsKey({}), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rotation: the file holds the new key first and the old below; the first seals, any opens; a rewrite is read again', () => {
  const dir = mkdtempSync(join(tmpdir(), 'up-sealing-'));
  try {
    const [old, fresh] = [randomBytes(32), randomBytes(32)];
    const file = join(dir, 'keys');
    const env = { UP_SECRETS_KEY_FILE: file };
    writeFileSync(file, `${old.toString('base64')}\n`, { mode: 0o600 });
    const sealedBefore = seal(loadSecretsKey(env)!, secretAad(alice, 'db'), value);
    writeFileSync(file, `# rotated 2026-12-06\n${fresh.toString('hex')}\n\n${old.toString('base64')}\n`, { mode: 0o600 });
    const keys = loadSecretsKeys(env)!;
    assert.deepEqual(keys, [fresh, old], 'read again after the rewrite, the new key first');
    assert.deepEqual(loadSecretsKey(env), fresh);
    assert.deepEqual(openWithAny(keys, secretAad(alice, 'db'), sealedBefore), value);
    const sealedAfter = seal(keys[0], secretAad(alice, 'db'), value);
    assert.throws(() => open(old, secretAad(alice, 'db'), sealedAfter), SealError);
    assert.throws(() => openWithAny([fresh], secretAad(alice, 'db'), sealedBefore), SealError, 'not once the old key is gone');
    assert.throws(() => openWithAny(keys, secretAad(bob, 'db'), sealedBefore), SealError);
    writeFileSync(file, `${fresh.toString('hex')}\nnot a key\n`, { mode: 0o600 });
    assert.throws(() => loadSecretsKeys(env), /line 2 of .* must hold 32 bytes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
