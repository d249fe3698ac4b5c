/**
 * The archive check reads a tar.gz the way GNU tar on the host will: anything the two could
 * read differently, and anything but files and directories with safe names, is refused.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ArchiveTooLarge, inspectArchive, TarCheck } from '../../lib/validate/web-archive.ts';
import { data, file, gzipBomb, header, hiddenEntriesArchive, tar, tgz } from '../helpers/tar-blocks.ts';
import { InputError } from '../../lib/errors.ts';

const LIMIT = { maxExpandedBytes: 64 * 1024 * 1024 };
const check = (gz: Buffer, limits = LIMIT) => inspectArchive(gz, limits);
const refused = (gz: Buffer, message: RegExp) =>
  assert.rejects(check(gz), (error: Error) => error instanceof InputError && message.test(error.message));

test('archives written by GNU tar, ustar and GNU formats, are accepted and counted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'up-archive-'));
  try {
    mkdirSync(join(dir, 'css'));
    writeFileSync(join(dir, 'index.html'), 'hi');
    writeFileSync(join(dir, 'css', 'a.css'), 'x');
    // A name past 100 characters: ustar splits it into prefix and name.
    const deep = join(dir, 'a'.repeat(60), 'b'.repeat(60));
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, 'page.html'), 'deep');
    for (const format of ['ustar', 'gnu']) {
      const gz = execFileSync(
        'tar',
        [`--format=${format}`, '-czf', '-', '-C', dir, 'index.html', 'css', 'a'.repeat(60)].filter(
          (a) => format === 'ustar' || !a.startsWith('aaa'),
        ),
      );
      const summary = await check(gz);
      assert.equal(summary.files, format === 'ustar' ? 3 : 2, format);
      assert.equal(summary.bytes, format === 'ustar' ? 7 : 3, format);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('symlinks, pax and GNU long-name records, odd names and non-archives are refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'up-archive-'));
  const tarOf = (...args: string[]) => execFileSync('tar', [...args, '-czf', '-', '-C', dir, '.']);
  try {
    writeFileSync(join(dir, 'index.html'), 'hi');
    await refused(tarOf('--format=posix'), /pax extended header/);
    symlinkSync('/etc/shadow', join(dir, 'link'));
    await refused(tarOf('--format=ustar'), /"\.\/link" is a symbolic link/);
    rmSync(join(dir, 'link'));
    writeFileSync(join(dir, `${'n'.repeat(120)}.html`), 'long');
    await refused(tarOf('--format=gnu'), /GNU long name/);
    rmSync(join(dir, `${'n'.repeat(120)}.html`));
    writeFileSync(join(dir, 'we$ird;name'), 'x');
    await refused(tarOf('--format=ustar'), /unsafe name/);
    await refused(Buffer.from('not gzip'), /gzip/);
    await refused(gzipSync(Buffer.alloc(1024)), /no files/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the review's archive: a bad checksum hiding a symlink to /etc and a device is refused", async () => {
  await refused(hiddenEntriesArchive(), /bad checksum at byte 0/);
});

test('a bad checksum anywhere, or one written so that readers could parse it differently, is refused', async () => {
  await refused(tgz(file('a.html', 'a'), header({ name: 'b.html', badChecksum: true })), /bad checksum at byte 1024/);
  // The right value, but followed by junk: lenient readers take the digits, GNU tar calls the header bad.
  const junk = header({ name: 'c.html' });
  junk.write(`${junk.toString('latin1', 148, 154)}x `, 148, 'latin1');
  await refused(tgz(junk), /bad checksum/);
});

test('framing tricks: data after the end block, a lone zero block, directories with data, file names ending in /', async () => {
  const symlink = header({ name: 'etc', type: '2', linkname: '/etc' });
  await refused(Buffer.concat([gzipSync(tar(file('a.html', 'a'))), gzipSync(symlink)]), /after its end-of-archive block/);
  await refused(
    gzipSync(Buffer.concat([file('a.html', 'a'), Buffer.alloc(512), file('b.html', 'b'), Buffer.alloc(1024)])),
    /after its end-of-archive block/,
  );
  await refused(tgz(header({ name: 'dir/', type: '5', size: 512 }), symlink, file('a.html', 'a')), /directory entry carrying data/);
  await refused(tgz(header({ name: 'd/', size: 512 }), data('x'), file('a.html', 'a')), /file entry named like a directory/);
  await refused(tgz(header({ name: 'a.html', size: 1, fields: { 124: '0000000001x\0' } }), data('a')), /malformed size/);
  await refused(tgz(file('a.html', 'a', { fields: { 100: 'rw-r--r' } })), /malformed mode/);
  await refused(tgz(file('a.html', 'a', { magic: 'none' })), /neither POSIX ustar nor GNU tar/);
  // Trailing zeros (tar pads to 10 KiB records) are fine; a truncated archive is not.
  assert.equal((await check(gzipSync(Buffer.concat([tar(file('a.html', 'a')), Buffer.alloc(9216)])))).files, 1);
  await refused(gzipSync(file('a.html', 'a')), /truncated/);
  await refused(gzipSync(file('a.html', 'abc').subarray(0, 520)), /truncated/);
});

test('every entry type but files and directories is refused, whatever it is called', async () => {
  const kinds: [string, RegExp][] = [
    ['1', /hard link/],
    ['2', /symbolic link/],
    ['3', /character device/],
    ['4', /block device/],
    ['6', /FIFO/],
    ['7', /contiguous/],
    ['x', /pax/],
    ['g', /pax global/],
    ['L', /GNU long name/],
    ['K', /GNU long link/],
    ['S', /tar type "S"/],
    ['V', /tar type "V"/],
  ];
  for (const [type, message] of kinds) await refused(tgz(header({ name: 'thing', type }), file('a.html', 'a')), message);
});

test('names: ./ prefixes and the root are fine; .., absolute, empty segments and the ustar prefix are checked as one path', async () => {
  assert.equal((await check(tgz(header({ name: './', type: '5' }), file('./a.html', 'a')))).files, 1);
  for (const name of ['../x', '/etc/passwd', 'a//b', 'a/../../b', '.hidden', 'a/./b', 'sp\u00e4ter'])
    await refused(tgz(file(name, 'x')), /unsafe name/);
  await refused(tgz(file('x.html', 'x', { prefix: '..' })), /unsafe name "\.\.\/x\.html"/);
  // GNU headers have no prefix: the bytes there are not part of the name.
  assert.equal((await check(tgz(file('x.html', 'x', { magic: 'gnu', prefix: '..' })))).files, 1);
});

test('the expansion limit stops inflating as soon as it is crossed', async () => {
  const bomb = gzipBomb(512 * 1024 * 1024);
  const started = performance.now();
  await assert.rejects(check(bomb, { maxExpandedBytes: 8 * 1024 * 1024 }), ArchiveTooLarge);
  assert.ok(performance.now() - started < 2_000, `took ${performance.now() - started} ms`);
  assert.ok(bomb.length < 1024 * 1024);
});

test('chunk boundaries do not matter: headers split across writes are read whole', () => {
  const archive = tar(header({ name: 'd', type: '5' }), file('d/a.html', 'hello'), file('b.html', 'x'.repeat(700)));
  for (const size of [1, 7, 511, 513, 4096]) {
    const reader = new TarCheck(1 << 20);
    for (let at = 0; at < archive.length; at += size) reader.write(archive.subarray(at, at + size));
    assert.deepEqual(reader.end(), { files: 2, bytes: 705, expandedBytes: archive.length });
  }
});
