import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { apr1, mergeSpec, DEFAULT_SPEC } from '../../gateway/routes/web-payloads.ts';
import { claimedNames, namesOf } from '../../lib/db/web.ts';
import { inspectArchive } from '../../lib/validate/web-archive.ts';
import { FieldError, normalizeDomain, normalizeRoutePath, normalizeUpstream } from '../../lib/validate/web.ts';

test('domains: lower case, punycode, RFC 1123', () => {
  assert.equal(normalizeDomain('Café.Example.', 'd'), 'xn--caf-dma.example');
  assert.equal(normalizeDomain('bücher.example', 'd'), 'xn--bcher-kva.example');
  for (const bad of ['localhost', '-a.example', 'a-.example', 'a..example', 'a.123', `${'a'.repeat(64)}.example`, 'a_b.example']) {
    assert.throws(() => normalizeDomain(bad, 'body/domains/0'), (e: Error) => e instanceof FieldError && e.message.startsWith('body/domains/0'), bad);
  }
});

test('upstreams: real addresses, canonical form, never the proxy itself', () => {
  assert.equal(normalizeUpstream('10.0.0.5:3000', 'u'), '10.0.0.5:3000');
  assert.equal(normalizeUpstream('[2001:DB8::5]:80', 'u'), '[2001:db8::5]:80');
  for (const bad of ['10.0.0.5', '10.0.0.256:80', '10.0.0.5:0', '10.0.0.5:70000', '127.0.0.1:22', '[::1]:80', '169.254.169.254:80', '0.0.0.0:80', '[fe80::1]:80', 'example.com:80']) {
    assert.throws(() => normalizeUpstream(bad, 'u'), FieldError, bad);
  }
});

test('route paths become prefixes and refuse dot segments', () => {
  assert.equal(normalizeRoutePath('/api', 'p'), '/api/');
  assert.equal(normalizeRoutePath('/', 'p'), '/');
  assert.throws(() => normalizeRoutePath('/a/../b', 'p'), FieldError);
});

test('apr1 matches Apache/OpenSSL (openssl passwd -apr1)', () => {
  assert.equal(apr1('password', 'abcdefgh'), '$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1');
  assert.match(apr1('another secret'), /^\$apr1\$[./0-9A-Za-z]{8}\$[./0-9A-Za-z]{22}$/);
});

test('a spec stores hashes, never the password', () => {
  const spec = mergeSpec(DEFAULT_SPEC, { basicAuth: { realm: 'r', users: [{ name: 'bob', password: 'correct horse' }] } });
  assert.doesNotMatch(JSON.stringify(spec), /correct horse/);
  assert.match(spec.basicAuth!.users[0].hash, /^\$apr1\$/);
});

test('www redirects derive the canonical name and claim both', () => {
  assert.deepEqual(namesOf({ domains: ['example.com'], wwwRedirect: 'to-www' }), { serve: ['www.example.com'], redirects: [{ from: 'example.com', to: 'www.example.com' }] });
  assert.deepEqual(namesOf({ domains: ['www.example.com', 'alias.example'], wwwRedirect: 'to-apex' }), {
    serve: ['example.com', 'alias.example'],
    redirects: [{ from: 'www.example.com', to: 'example.com' }],
  });
  assert.deepEqual(claimedNames({ domains: ['example.com'], wwwRedirect: 'to-apex' }).sort(), ['example.com', 'www.example.com']);
});

test('site archives: files and directories with safe names only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'up-archive-'));
  const tar = (...args: string[]) => execFileSync('tar', ['--format=ustar', '-czf', '-', '-C', dir, ...args]);
  try {
    mkdirSync(join(dir, 'css'));
    writeFileSync(join(dir, 'index.html'), 'hi');
    writeFileSync(join(dir, 'css', 'a.css'), 'x');
    assert.deepEqual(inspectArchive(tar('.')), { files: 2, bytes: 3 });
    symlinkSync('/etc/shadow', join(dir, 'link'));
    assert.throws(() => inspectArchive(tar('.')), /only files and directories/);
    rmSync(join(dir, 'link'));
    writeFileSync(join(dir, 'we$ird;name'), 'x');
    assert.throws(() => inspectArchive(tar('.')), /unsafe name/);
    assert.throws(() => inspectArchive(Buffer.from('not gzip')), /gzip/);
    assert.throws(() => inspectArchive(gzipSync(Buffer.alloc(1024))), /no files/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
