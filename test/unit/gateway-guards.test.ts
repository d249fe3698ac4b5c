import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isApiRoute } from '../../gateway/plugins/api-routes.ts';
import { pathProblem } from '../../gateway/plugins/canonical-path.ts';
import { FailureThrottle } from '../../gateway/plugins/failure-throttle.ts';

test('API routes are known by their pattern', () => {
  for (const url of ['/v1', '/v1/users', '/v1/users/:name']) assert.ok(isApiRoute(url), url);
  for (const url of [undefined, '/', '/v10/x', '/v1x', '/healthz', '/docs', '/V1/users']) assert.ok(!isApiRoute(url), String(url));
});

test('canonical paths pass: plain, reserved characters encoded, UTF-8, any query', () => {
  for (const target of [
    '/',
    '/v1/users',
    '/v1/users/alice',
    '/v1/dns/zones/b%C3%BCcher.example',
    '/v1/dns/zones/b%c3%bccher.example',
    '/v1/x/a%3Ab%40c',
    '/v1/jobs?waitMs=100&x=%2F..%2F',
    '/docs/static/swagger-ui.css',
    '/v1/users/alice;p',
  ]) {
    assert.equal(pathProblem(target), null, target);
  }
});

test('other spellings of a path are refused, each with what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['/%76%31/users', /percent-encodes "v" \(%76\)/],
    ['/v%31/users/alice', /"1" \(%31\)/],
    ['/v1/users/%61lice', /"a"/],
    ['/v1/users/%7e', /"~"/],
    ['/v1/%2e%2e/v1/users', /"\."/],
    ['/v1%2Fusers', /a slash/],
    ['/v1%2fusers', /a slash/],
    ['/v1%5Cusers', /a backslash/],
    ['/%2576%2531/users', /double encoding/],
    ['/v1/users/alice%00', /control character/],
    ['/v1/users/alice%0a', /control character/],
    ['/v1/users/%zz', /starts no percent-encoding/],
    ['/v1/users/%4', /starts no percent-encoding/],
    ['//v1/users', /empty segment/],
    ['/v1//users', /empty segment/],
    ['/v1/users//', /empty segment/],
    ['/./v1/users', /dot segment/],
    ['/v1/./users', /dot segment/],
    ['/v1/x/../users', /dot segment/],
    ['/v1/users/.', /dot segment/],
    ['/v1/users/..', /dot segment/],
    ['/v1\\users', /backslash/],
    ['/v1/users#x', /fragment/],
    ['http://localhost/v1/users', /starts with \//],
    ['*', /starts with \//],
  ];
  for (const [target, problem] of cases) assert.match(pathProblem(target) ?? 'accepted', problem, target);
  // Dots inside a segment are names, not dot segments.
  assert.equal(pathProblem('/v1/dns/zones/a.example/records'), null);
  assert.equal(pathProblem('/v1/websites/...x'), null);
});

test('failures: free ones pass, then each waits twice as long, capped; other keys are untouched', () => {
  const throttle = new FailureThrottle({ free: 3, windowMs: 60_000, firstDelayMs: 1000, maxDelayMs: 8000 });
  const t0 = 1_000_000;
  assert.deepEqual(
    [1, 2, 3].map((i) => throttle.fail('a', t0 + i)),
    [0, 0, 0],
  );
  assert.deepEqual(
    [4, 5, 6, 7, 8].map((i) => throttle.fail('a', t0 + i)),
    [1000, 2000, 4000, 8000, 8000],
  );
  assert.equal(throttle.fail('b', t0 + 9), 0, 'another key has its own count');
  // While failures keep coming the count stays; once the window and the wait are over, it starts again.
  assert.equal(throttle.fail('a', t0 + 59_000), 8000);
  assert.equal(throttle.fail('a', t0 + 59_000 + 8001 + 60_000), 0);
});

test('failures: the map keeps only the most recently failing keys', () => {
  const throttle = new FailureThrottle({ free: 1, windowMs: 60_000, maxKeys: 100 });
  for (let i = 0; i < 10_000; i++) throttle.fail(`ip:${i}`, 1000 + i);
  assert.equal(throttle.size, 100);
  assert.ok(throttle.fail('ip:9999', 20_000) > 0, 'a recent key is remembered');
  assert.equal(throttle.fail('ip:0', 20_000), 0, 'the oldest were forgotten');
});
