import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classify, PermanentError } from '../../lib/errors.ts';
import { CommandError, HostKeyMismatchError, TransientExecError } from '../../lib/exec/errors.ts';
import * as files from '../../lib/exec/put-file.ts';

describe('putFile building blocks', () => {
  it('accepts only normalised absolute paths', () => {
    for (const ok of ['/etc/nginx/nginx.conf', '/srv/a b/c"d\'e', '/x']) assert.doesNotThrow(() => files.assertAbsolutePath(ok));
    for (const bad of ['', 'rel', '/', '/a//b', '/a/./b', '/a/../b', '/a/', '/a\nb', '/a\0b']) {
      assert.throws(() => files.assertAbsolutePath(bad), PermanentError, JSON.stringify(bad));
    }
  });

  it('accepts modes 0..07777 and plain user/group names or ids', () => {
    assert.doesNotThrow(() => files.assertPutFileOptions({ mode: 0o4755, owner: 'www-data', group: '33' }));
    for (const bad of [{ mode: 0o10000 }, { mode: -1 }, { mode: 1.5 }, { owner: 'a b' }, { owner: '-rf' }, { group: 'x;y' }]) {
      assert.throws(() => files.assertPutFileOptions(bad), PermanentError, JSON.stringify(bad));
    }
  });

  it('parses the inspection output, and nothing means no file', () => {
    const hash = 'a'.repeat(64);
    assert.deepEqual(files.parseFileState(`${hash}  -\n640 root adm 0 4\n`), {
      sha256: hash,
      mode: 0o640,
      owner: 'root',
      group: 'adm',
      uid: '0',
      gid: '4',
    });
    assert.equal(files.parseFileState(''), null);
  });

  it('compares metadata by name or id, ignoring what was not asked for', () => {
    const state = { sha256: '', mode: 0o640, owner: 'root', group: 'adm', uid: '0', gid: '4' };
    assert.ok(files.metadataMatches(state, {}));
    assert.ok(files.metadataMatches(state, { mode: 0o640, owner: '0', group: 'adm' }));
    assert.ok(!files.metadataMatches(state, { mode: 0o644 }));
    assert.ok(!files.metadataMatches(state, { owner: 'nobody' }));
  });

  it('puts the temp file beside the target, hidden, with a random suffix', () => {
    const a = files.tempPathFor('/etc/nginx/site.conf');
    assert.match(a, /^\/etc\/nginx\/\.site\.conf\.up-tmp-[0-9a-f]{12}$/);
    assert.notEqual(a, files.tempPathFor('/etc/nginx/site.conf'));
  });

  it('installs with chown before chmod and mv -T', () => {
    const text = files.installTempCommand('/d/.f.tmp', '/d/f', { owner: 'u', mode: 0o600 }, true).text;
    assert.ok(text.indexOf('chown u') < text.indexOf('chmod 0600'));
    assert.match(text, /--reference=\/d\/f/);
    assert.match(text, /mv -fT -- \/d\/.f.tmp \/d\/f$/);
  });
});

describe('executor errors', () => {
  it('sort into permanent and retryable and carry what happened', () => {
    const failed = new CommandError({ host: 'h', exitCode: 2, signal: null, stdout: '', stderr: `${'x'.repeat(5000)}END` });
    assert.equal(classify(failed), 'permanent');
    assert.equal(failed.name, 'CommandError');
    assert.ok(failed.message.endsWith('END') && failed.message.length < 2100);
    assert.equal(classify(new TransientExecError('h', 'TIMEOUT', 'slow')), 'retryable');
    const mismatch = new HostKeyMismatchError('h', 'SHA256:aaa', 'SHA256:bbb');
    assert.equal(classify(mismatch), 'permanent');
    assert.match(mismatch.message, /SHA256:aaa.*SHA256:bbb/);
  });
});
