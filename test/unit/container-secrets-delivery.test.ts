import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mustWrite } from '../../handlers/containers/secrets.ts';
import { secretDigest } from '../../lib/secrets/sealing.ts';

const id = '0193a5c6-7e8f-7091-a213-c4d5e6f70830';
const other = '0193a5c6-7e8f-7091-a213-c4d5e6f70831';
const value = (secretId: string, version: number) => ({
  name: 'token',
  owner: '0193a5c6-7e8f-7091-a213-c4d5e6f70820',
  digest: secretDigest(secretId, version),
  sealed: 'v1.x',
  secretId,
  version,
});
const delivered = (secretId: string, version: number) => ({ digest: secretDigest(secretId, version), secretId, version });

test('a podman secret is written when missing or older, kept when it holds this value or a newer one of the same secret', () => {
  assert.equal(mustWrite(undefined, value(id, 1)), true, 'missing');
  assert.equal(mustWrite(delivered(id, 2), value(id, 2)), false, 'this value');
  assert.equal(mustWrite(delivered(id, 1), value(id, 2)), true, 'an older value');
  assert.equal(mustWrite(delivered(id, 3), value(id, 2)), false, 'a late message does not put an older value back');
  assert.equal(mustWrite(delivered(other, 7), value(id, 1)), true, 'a secret deleted and set again is another one');
  // Written before secrets carried their id and version: only the digest tells.
  assert.equal(mustWrite({ digest: 'abcdef0123456789', secretId: '', version: 0 }, value(id, 1)), true);
  const { secretId: _, version: _v, ...unversioned } = value(id, 1);
  assert.equal(mustWrite(delivered(id, 3), unversioned), true, 'a message from before: as it always was');
});
