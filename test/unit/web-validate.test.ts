import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { mergeSpec, DEFAULT_SPEC } from '../../gateway/websites/spec.ts';
import { sha512Crypt } from '../../lib/password-hash.ts';
import { claimedNames, namesOf } from '../../gateway/websites/store.ts';
import { HTPASSWD_HASH, normalizeDomain, normalizeRoutePath, normalizeUpstream } from '../../lib/validate/web.ts';
import { InputError } from '../../lib/errors.ts';

test('domains: lower case, punycode, RFC 1123', () => {
  assert.equal(normalizeDomain('Café.Example.', 'd'), 'xn--caf-dma.example');
  assert.equal(normalizeDomain('bücher.example', 'd'), 'xn--bcher-kva.example');
  for (const bad of ['localhost', '-a.example', 'a-.example', 'a..example', 'a.123', `${'a'.repeat(64)}.example`, 'a_b.example']) {
    assert.throws(
      () => normalizeDomain(bad, 'body/domains/0'),
      (e: Error) => e instanceof InputError && e.message.startsWith('body/domains/0'),
      bad,
    );
  }
});

test('upstreams: real addresses, canonical form, never the proxy itself', () => {
  assert.equal(normalizeUpstream('10.0.0.5:3000', 'u'), '10.0.0.5:3000');
  assert.equal(normalizeUpstream('[2001:DB8::5]:80', 'u'), '[2001:db8::5]:80');
  for (const bad of [
    '10.0.0.5',
    '10.0.0.256:80',
    '10.0.0.5:0',
    '10.0.0.5:70000',
    '127.0.0.1:22',
    '[::1]:80',
    '169.254.169.254:80',
    '0.0.0.0:80',
    '[fe80::1]:80',
    'example.com:80',
  ]) {
    assert.throws(() => normalizeUpstream(bad, 'u'), InputError, bad);
  }
});

test('route paths become prefixes and refuse dot segments', () => {
  assert.equal(normalizeRoutePath('/api', 'p'), '/api/');
  assert.equal(normalizeRoutePath('/', 'p'), '/');
  assert.throws(() => normalizeRoutePath('/a/../b', 'p'), InputError);
});

test("SHA-512-crypt matches the specification's vectors and OpenSSL (openssl passwd -6)", async () => {
  // Ulrich Drepper, "Unix crypt using SHA-256 and SHA-512", test vectors.
  assert.equal(
    await sha512Crypt('Hello world!', 'saltstring'),
    '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1',
  );
  assert.equal(
    await sha512Crypt(
      'a very much longer text to encrypt.  This one even stretches over morethan one line.',
      'rounds=1400$anotherlongsaltstring',
    ),
    '$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1',
  );
  for (const password of ['correct horse battery staple', '~!@#$%^&*()_+`{}|:"<>? and more', ' leading space ']) {
    const salt = 'Ab3./xyz0123QRst';
    const openssl = execFileSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], { input: `${password}\n` })
      .toString()
      .trim();
    assert.equal(await sha512Crypt(password, salt), openssl, password);
  }
  const fresh = await sha512Crypt('another secret');
  assert.match(fresh, new RegExp(HTPASSWD_HASH));
  assert.match(fresh, /^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
  assert.notEqual(await sha512Crypt('another secret'), fresh, 'a fresh salt each time');
});

test('hashing many passwords leaves the event loop free (a worker thread does it)', async () => {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const started = performance.now();
  const hashes = await Promise.all(Array.from({ length: 40 }, (_, i) => sha512Crypt(`password number ${i}`)));
  const took = performance.now() - started;
  lag.disable();
  assert.equal(new Set(hashes).size, 40);
  // 40 hashes inline would hold the loop for all of `took` (~0.5-2 s here); off-thread it only ticks.
  assert.ok(
    lag.max / 1e6 < Math.max(250, took / 4),
    `event loop held ${Math.round(lag.max / 1e6)} ms while hashing took ${Math.round(took)} ms`,
  );
});

test('a spec stores SHA-512-crypt hashes, never the password; stored apr1 hashes stay valid on the wire', async () => {
  const spec = await mergeSpec(DEFAULT_SPEC, { basicAuth: { realm: 'r', users: [{ name: 'bob', password: 'correct horse' }] } });
  assert.doesNotMatch(JSON.stringify(spec), /correct horse/);
  assert.match(spec.basicAuth!.users[0].hash, /^\$6\$/);
  // A site stored before the switch keeps its apr1 hashes; the message schema still carries them.
  assert.match('$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1', new RegExp(HTPASSWD_HASH));
  for (const bad of [
    '$1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1',
    '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZF6bTs',
    'plain',
    '$6$salt$short',
    '{SHA}abc=',
  ]) {
    assert.doesNotMatch(bad, new RegExp(HTPASSWD_HASH), bad);
  }
});

test('www redirects derive the canonical name and claim both', () => {
  assert.deepEqual(namesOf({ domains: ['example.com'], wwwRedirect: 'to-www' }), {
    serve: ['www.example.com'],
    redirects: [{ from: 'example.com', to: 'www.example.com' }],
  });
  assert.deepEqual(namesOf({ domains: ['www.example.com', 'alias.example'], wwwRedirect: 'to-apex' }), {
    serve: ['example.com', 'alias.example'],
    redirects: [{ from: 'www.example.com', to: 'example.com' }],
  });
  assert.deepEqual(claimedNames({ domains: ['example.com'], wwwRedirect: 'to-apex' }).sort(), ['example.com', 'www.example.com']);
});
