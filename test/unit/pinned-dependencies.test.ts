import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify from 'fastify';

/**
 * package.json `overrides` pin two transitive dependencies to their last majors that support
 * Node 20 (content-disposition 2, cookie 1: their newer majors want Node >= 22, so `npm ci`
 * warned EBADENGINE). These tests use them through the packages that depend on them.
 */
const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  engines: { node: string };
  overrides: Record<string, unknown>;
};

/** The version of `name` as the package `from` resolves it (neither exports its package.json). */
function versionSeenBy(from: string, name: string): string {
  const main = createRequire(createRequire(import.meta.url).resolve(from)).resolve(name);
  return (JSON.parse(readFileSync(join(dirname(main), '..', 'package.json'), 'utf8')) as { version: string }).version;
}

test('the pinned versions are the ones installed', () => {
  assert.match(versionSeenBy('@fastify/static', 'content-disposition'), /^2\./);
  assert.match(versionSeenBy('light-my-request', 'cookie'), /^1\./);
  assert.ok(manifest.overrides['content-disposition'] && manifest.overrides.cookie);
});

test('@fastify/static, under swagger-ui, still names downloads with content-disposition 2', async () => {
  const fromStatic = createRequire(createRequire(import.meta.url).resolve('@fastify/static'));
  const { create } = fromStatic('content-disposition') as { create: (name: string) => string };
  assert.equal(create('report ä.txt'), `attachment; filename="report ?.txt"; filename*=UTF-8''report%20%C3%A4.txt`);

  const app = Fastify();
  await app.register(swagger, { openapi: { info: { title: 't', version: '1' } } });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  const page = await app.inject({ method: 'GET', url: '/docs/' });
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /swagger-ui/i);
  const script = await app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
  assert.equal(script.statusCode, 200);
  assert.match(String(script.headers['content-type']), /javascript/);
  await app.close();
});

test('light-my-request (app.inject) still sends cookies with cookie 1', async () => {
  const app = Fastify();
  app.get('/', async (request) => ({ cookie: request.headers.cookie }));
  const reply = await app.inject({ method: 'GET', url: '/', cookies: { session: 'a b', theme: 'dark' } });
  assert.deepEqual(reply.json(), { cookie: 'session=a%20b; theme=dark' });
  await app.close();
});

test('engines: the versions tested (Node 20.19 and the active LTS 24), and 22.12+ between them', () => {
  assert.equal(manifest.engines.node, '^20.19.0 || ^22.12.0 || >=24');
});
