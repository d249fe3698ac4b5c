/**
 * The isolation matrix, generated from the gateway's route table: every `/v1` route is
 * walked as user B against user A's resources. Item routes of owned resources answer B with
 * 404 (never 403, so existence does not leak), lists never show A's rows, creates refuse an
 * owner in the body, every other route is admin-only unless it says otherwise, and the admin
 * sees everything. A route added later is in this matrix by being registered.
 * Every route is also tried under other spellings of its URL (percent-encoded, doubled or
 * encoded slashes, dot segments, `;` parameters, …) sent raw over a socket: none reaches a
 * route without a token or an admin route with a tenant's, and each that reaches a route is
 * audited.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import FindMyWay from 'find-my-way';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { buildGateway } from '../../gateway/app.ts';
import { domains } from '../../gateway/domains.ts';
import { Outbox } from '../../gateway/outbox.ts';
import { DEFAULT_SPEC } from '../../gateway/websites/spec.ts';
import { ownerOf, scopeToCaller, type OwnedRoute, type RouteAccess } from '../../gateway/plugins/scope.ts';
import { openDatabase, type Database } from '../../lib/db/connect.ts';
import { migrateLatest } from '../../lib/db/migrate.ts';
import { createLogger } from '../../lib/log.ts';
import { UUID_PATTERN } from '../../lib/ids.ts';
import { Bus } from '../../queues/bus.ts';
import { operations } from '../../queues/catalogue.ts';
import { MemoryTransport } from '../../queues/memory-transport.ts';
import { systemPing } from '../../queues/system/ops.ts';
import { inBatches, pathSpellings, rawClient } from '../helpers/raw-http.ts';

const ADMIN = 'matrix-admin-token-0123456789abcdef';
const WIDGETS: OwnedRoute = { kind: 'widgets', table: 'widgets' };
const WIDGET: OwnedRoute = { ...WIDGETS, idParam: 'id' };

/** A test-only resource, declared like every real one. */
const widgetRoutes: FastifyPluginAsyncTypebox<{ db: Database['knex'] }> = async (app, { db }) => {
  const Id = Type.Object({ id: Type.String({ pattern: UUID_PATTERN }) });
  app.post(
    '/v1/widgets',
    {
      config: { owned: WIDGETS },
      schema: { body: Type.Object({ name: Type.String({ pattern: '^[a-z]{1,20}$' }) }, { additionalProperties: false }) },
    },
    async (request, reply) => {
      const [row] = await db('widgets')
        .insert({ id: randomUUID(), name: request.body.name, owner_id: ownerOf(request) })
        .returning('*');
      return reply.code(201).header('location', `/v1/widgets/${row.id}`).send(row);
    },
  );
  app.get('/v1/widgets', { config: { owned: WIDGETS } }, async (request) => ({
    items: await scopeToCaller(db('widgets').orderBy('id'), request.caller),
  }));
  app.get('/v1/widgets/:id', { config: { owned: WIDGET }, schema: { params: Id } }, async (request) =>
    db('widgets').where({ id: request.params.id }).first(),
  );
  app.patch(
    '/v1/widgets/:id',
    {
      config: { owned: WIDGET },
      schema: {
        params: Id,
        body: Type.Object({ name: Type.Optional(Type.String({ pattern: '^[a-z]{1,20}$' })) }, { additionalProperties: false }),
      },
    },
    async (request) => {
      if (request.body.name) await db('widgets').where({ id: request.params.id }).update({ name: request.body.name });
      return db('widgets').where({ id: request.params.id }).first();
    },
  );
  app.delete('/v1/widgets/:id', { config: { owned: WIDGET }, schema: { params: Id } }, async (request, reply) => {
    await db('widgets').where({ id: request.params.id }).delete();
    return reply.code(204).send();
  });
};

type Who = { name: string; id: string; auth: { authorization: string } };

describe('isolation matrix: user B against user A, generated from the route table', () => {
  let database: Database;
  let bus: Bus;
  let app: FastifyInstance;
  let a: Who;
  let b: Who;
  const admin = { authorization: `Bearer ${ADMIN}` };
  /** Per owned kind: the id of one of A's resources, as its item routes' idParam takes it. */
  const fixtures = new Map<string, string>();
  /** What identifies A's rows in any answer. */
  const aMarkers: string[] = [];

  const call = (method: string, url: string, headers: Record<string, string>, body?: unknown) =>
    app.inject({ method: method as 'GET', url, headers, ...(body === undefined ? {} : { payload: body as object }) });

  async function userWithToken(name: string): Promise<Who> {
    const user = await call('POST', '/v1/users', admin, { name });
    assert.equal(user.statusCode, 201, user.body);
    const token = await call('POST', '/v1/tokens', admin, { name: 'matrix', user: name });
    assert.equal(token.statusCode, 201, token.body);
    return { name, id: user.json().id, auth: { authorization: `Bearer ${token.json().secret}` } };
  }

  before(async () => {
    database = openDatabase({ url: null, inMemory: true });
    await migrateLatest(database.knex);
    await database.knex.schema.createTable('widgets', (t) => {
      t.uuid('id').primary();
      t.uuid('owner_id').notNullable();
      t.text('name').notNullable();
    });
    const log = createLogger('silent');
    bus = new Bus(new MemoryTransport(), operations);
    await bus.start();
    const outbox = new Outbox(database.knex, bus, log);
    app = await buildGateway({ db: database.knex, bus, outbox, adminToken: ADMIN, log });
    await app.register(widgetRoutes, { db: database.knex });
    await app.ready();

    a = await userWithToken('alice');
    b = await userWithToken('bob');
    const widget = await call('POST', '/v1/widgets', a.auth, { name: 'secret' });
    assert.equal(widget.statusCode, 201, widget.body);
    fixtures.set('widgets', widget.json().id);
    await call('POST', '/v1/widgets', b.auth, { name: 'mine' });
    const { job } = await outbox.submit({ op: systemPing, payload: {}, actor: a.name, tenant: a.name, ownerId: a.id });
    fixtures.set('jobs', job.id);
    const token = (await call('POST', '/v1/tokens', a.auth, { name: 'second' })).json();
    fixtures.set('tokens', token.id);
    const certificate = randomUUID();
    await database.knex('certificates').insert({
      id: certificate,
      owner_id: a.id,
      kind: 'site',
      name: 'site-secret',
      names: JSON.stringify(['secret.example']),
      challenge: 'http-01',
    });
    fixtures.set('certificates', certificate);
    // Kinds whose create routes need hosts and daemons: A's rows written as those routes would.
    const db = database.knex;
    await db('hosts').insert({
      id: randomUUID(),
      name: 'm1',
      address: '192.0.2.1',
      port: 22,
      ssh_user: 'root',
      host_key_sha256: 'SHA256:matrix',
      roles: ['dns', 'proxy'],
    });
    const server = randomUUID();
    await db('dns_servers').insert({
      id: server,
      name: 'ns',
      primary_host: 'm1',
      address: '192.0.2.1',
      rndc_conf: '/etc/bind/rndc.conf',
      zone_dir: '/var/lib/bind',
      key_name: 'up',
    });
    const zone = randomUUID();
    await db('dns_zones').insert({ id: zone, name: 'secret-zone.example', owner_id: a.id, server_id: server, status: 'active' });
    fixtures.set('dnsZones', 'secret-zone.example');
    const group = randomUUID();
    await db('proxy_groups').insert({
      id: group,
      name: 'p1',
      wildcard_domain: 'p1.example',
      addresses: JSON.stringify(['192.0.2.10']),
      base_dir: '/srv/up',
      http_port: 80,
      nginx_user: 'www-data',
    });
    const site = randomUUID();
    await db('websites').insert({
      id: site,
      name: 'secretsite',
      owner_id: a.id,
      proxy_group_id: group,
      temp_domain: 'secretsite-alice.p1.example',
      spec: JSON.stringify(DEFAULT_SPEC),
    });
    fixtures.set('websites', 'secretsite');
    const container = randomUUID();
    await db('hosts').insert({
      id: randomUUID(),
      name: 'node1',
      address: '192.0.2.31',
      port: 22,
      ssh_user: 'root',
      host_key_sha256: `SHA256:${'C'.repeat(43)}`,
      roles: ['containers'],
    });
    await db('containers').insert({
      id: container,
      name: 'secretbox',
      owner_id: a.id,
      host: 'node1',
      spec: JSON.stringify({
        image: 'busybox',
        command: [],
        env: {},
        ports: [],
        volumes: [],
        limits: { memoryMb: 64, cpus: 0.5, pids: 64 },
        restart: 'no',
        healthcheck: null,
      }),
    });
    fixtures.set('containers', 'secretbox');
    await db('secrets').insert({
      id: randomUUID(),
      owner_id: a.id,
      name: 'secretkey',
      ciphertext: 'v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    });
    fixtures.set('secrets', 'secretkey');
    const appSite = randomUUID();
    await db('websites').insert({
      id: appSite,
      name: 'secretapp',
      owner_id: a.id,
      proxy_group_id: group,
      temp_domain: 'secretapp-alice.p1.example',
      spec: JSON.stringify(DEFAULT_SPEC),
    });
    await db('apps').insert({
      id: randomUUID(),
      name: 'secretapp',
      owner_id: a.id,
      template: 'node',
      website_id: appSite,
      host: 'node1',
      replicas: 1,
    });
    fixtures.set('apps', 'secretapp');
    const mailHost = (await db('hosts').where({ name: 'm1' }).first('id')).id;
    await db('mail_hosts').insert({ host_id: mailHost });
    const mailDomain = randomUUID();
    await db('mail_domains').insert({ id: mailDomain, name: 'secret-mail.example', owner_id: a.id, host_id: mailHost, generation: 1 });
    fixtures.set('mailDomains', 'secret-mail.example');
    const box = { address: 'secret@secret-mail.example', domain_id: mailDomain, owner_id: a.id, generation: 1 };
    await db('mail_boxes').insert({ ...box, id: randomUUID(), password_hash: `$6$salt$${'a'.repeat(86)}`, quota_mb: 10 });
    fixtures.set('mailBoxes', 'secret@secret-mail.example');
    await db('mail_aliases').insert({
      ...box,
      id: randomUUID(),
      address: 'info@secret-mail.example',
      targets: JSON.stringify(['x@elsewhere.example']),
    });
    fixtures.set('mailAliases', 'info@secret-mail.example');
    const mailList = randomUUID();
    await db('mail_lists').insert({
      id: mailList,
      address: 'secret-list@secret-mail.example',
      domain_id: mailDomain,
      owner_id: a.id,
      policy: 'members-only',
      generation: 1,
    });
    await db('mail_list_members').insert({ list_id: mailList, address: 'member@elsewhere.example' });
    fixtures.set('mailLists', 'secret-list@secret-mail.example');
    aMarkers.push(
      a.id,
      widget.json().id,
      job.id,
      token.id,
      certificate,
      zone,
      site,
      'secret-zone.example',
      'secretsite',
      container,
      'secretbox',
      'secret-mail.example',
    );
    const dbServer = randomUUID();
    await db('db_servers').insert({ id: dbServer, name: 'pg1', engine: 'postgresql', host: 'm1', address: '192.0.2.1', port: 5432 });
    const secretDb = randomUUID();
    await db('databases').insert({ id: secretDb, name: 'secretdb', full_name: 'alice_secretdb', owner_id: a.id, server_id: dbServer });
    fixtures.set('databases', 'secretdb');
    const dbUser = randomUUID();
    await db('database_users').insert({
      id: dbUser,
      name: 'secretuser',
      full_name: 'alice_secretuser',
      owner_id: a.id,
      server_id: dbServer,
      verifier: `*${'A'.repeat(40)}`,
    });
    fixtures.set('databaseUsers', 'secretuser');
    aMarkers.push(secretDb, dbUser, 'alice_secretdb', 'alice_secretuser');
  });

  after(async () => {
    await app?.close();
    await bus?.close();
    await database?.close();
  });

  /** A path for the route: A's resource for its idParam, a harmless valid-looking value elsewhere. */
  function pathOf(route: RouteAccess): string {
    return route.url.replace(/:([A-Za-z0-9_]+)/g, (_m, param: string) => {
      if (route.owned?.idParam === param && fixtures.has(route.owned.kind)) return encodeURIComponent(fixtures.get(route.owned.kind)!);
      return param === 'id' || param.endsWith('Id') ? randomUUID() : 'x1';
    });
  }

  const routes = () => app.routeAccess;
  const isItem = (r: RouteAccess) => Boolean(r.owned?.idParam);

  test('the route table is populated and every owned kind under test has a fixture', () => {
    const kinds = new Set(routes().flatMap((r) => (r.owned ? [r.owned.kind] : [])));
    assert.ok(kinds.has('jobs') && kinds.has('widgets') && kinds.has('tokens'));
    // Every kind a domain declares users own is among them: scoped by its routes, and under test here.
    for (const kind of domains.flatMap((d) => d.owned ?? []))
      assert.ok(kinds.has(kind.kind), `the routes of ${kind.kind} declare it owned`);
    // Each kind's own 404s need one of A's rows: a kind that lands adds its fixture in `before`.
    assert.deepEqual(
      [...kinds].filter((k) => !fixtures.has(k)),
      [],
      'owned kinds without a fixture',
    );
  });

  test('without a token every /v1 route answers 401', async () => {
    for (const route of routes()) {
      const res = await call(route.method, pathOf(route), {});
      assert.equal(res.statusCode, 401, `${route.method} ${route.url}`);
    }
  });

  test("B gets 404 on every item route of A's resources, and A's rows stay as they were", async () => {
    const checked: string[] = [];
    for (const route of routes().filter((r) => isItem(r) && fixtures.has(r.owned!.kind))) {
      const path = pathOf(route);
      const res = await call(route.method, path, b.auth, route.method === 'GET' || route.method === 'DELETE' ? undefined : {});
      if (res.statusCode === 400) {
        // Validation comes before ownership and answers the same for everyone: nothing leaks.
        assert.equal((await call(route.method, path, admin, {})).statusCode, 400, `${route.method} ${route.url}`);
        continue;
      }
      assert.equal(res.statusCode, 404, `${route.method} ${route.url} as B: ${res.body}`);
      assert.ok(!aMarkers.some((m) => m !== fixtures.get(route.owned!.kind) && res.body.includes(m)), 'the 404 says nothing about A');
      checked.push(`${route.method} ${route.url}`);
    }
    assert.ok(checked.includes('GET /v1/jobs/:id') && checked.includes('POST /v1/jobs/:id/retry'));
    assert.ok(
      checked.includes('PATCH /v1/widgets/:id') && checked.includes('DELETE /v1/widgets/:id') && checked.includes('DELETE /v1/tokens/:id'),
    );
    const widget = await database
      .knex('widgets')
      .where({ id: fixtures.get('widgets') })
      .first();
    assert.equal(widget.name, 'secret', "B's PATCH and DELETE changed nothing");
    const token = await database
      .knex('tokens')
      .where({ id: fixtures.get('tokens') })
      .first();
    assert.equal(token.revoked_at, null, "B could not revoke A's token");
  });

  test('A and the admin reach the same item routes (GET): the 404 was about B, not the route', async () => {
    for (const route of routes().filter((r) => isItem(r) && r.method === 'GET' && fixtures.has(r.owned!.kind))) {
      for (const who of [a.auth, admin]) {
        const res = await call('GET', pathOf(route), who);
        assert.equal(res.statusCode, 200, `${route.url}: ${res.body}`);
      }
    }
  });

  test("lists of owned resources never show A's rows to B; A and the admin see them", async () => {
    for (const route of routes().filter((r) => r.owned && !isItem(r) && r.method === 'GET')) {
      const asB = await call('GET', pathOf(route), b.auth);
      assert.equal(asB.statusCode, 200, `${route.url}: ${asB.body}`);
      for (const marker of aMarkers) assert.ok(!asB.body.includes(marker), `${route.url} shows B something of A's (${marker})`);
      const fixture = fixtures.get(route.owned!.kind);
      if (!fixture) continue;
      assert.ok((await call('GET', pathOf(route), a.auth)).body.includes(fixture), `${route.url}: A sees their own`);
      assert.ok((await call('GET', pathOf(route), admin)).body.includes(fixture), `${route.url}: the admin sees A's`);
    }
  });

  test('no create takes an owner from the body: B cannot create anything owned by A', async () => {
    for (const route of routes().filter((r) => r.owned && !isItem(r) && r.method === 'POST')) {
      for (const field of ['owner', 'owner_id', 'ownerId']) {
        const res = await call('POST', pathOf(route), b.auth, { name: 'stolen', [field]: field === 'owner' ? a.name : a.id });
        assert.equal(res.statusCode, 400, `${route.url} with ${field}: ${res.body}`);
        assert.match(res.json().message, /owner is always the caller/);
      }
    }
    const created = await call('POST', '/v1/widgets', b.auth, { name: 'fresh' });
    assert.equal(created.json().owner_id, b.id, 'what B creates is B’s');
  });

  test('every route that is not declared owned or caller-scoped is admin-only: 403 for B', async () => {
    const adminOnly = routes().filter((r) => r.access === 'admin');
    assert.ok(adminOnly.some((r) => r.url === '/v1/users') && adminOnly.some((r) => r.url === '/v1/dlq'));
    for (const route of adminOnly) {
      const res = await call(route.method, pathOf(route), b.auth, route.method === 'GET' ? undefined : {});
      assert.equal(res.statusCode, 403, `${route.method} ${route.url}: ${res.body}`);
    }
  });

  test("B cannot read A's audit entries; A sees their own and the admin sees both", async () => {
    await call('PATCH', `/v1/widgets/${fixtures.get('widgets')}`, a.auth, { name: 'renamed' });
    await call('PATCH', `/v1/widgets/${fixtures.get('widgets')}`, a.auth, { name: 'secret' });
    const page = async (who: Record<string, string>, query = '') => {
      for (let i = 0; i < 50; i++) {
        const res = await call('GET', `/v1/audit?limit=500${query}`, who);
        assert.equal(res.statusCode, 200, res.body);
        const items = res.json().items as { userId: string | null; route: string }[];
        if (items.some((e) => e.route === '/v1/widgets/:id')) return items;
        await new Promise((r) => setTimeout(r, 20));
      }
      return (await call('GET', `/v1/audit?limit=500${query}`, who)).json().items as { userId: string | null; route: string }[];
    };
    const asAdmin = await page(admin);
    assert.ok(asAdmin.some((e) => e.userId === a.id) && asAdmin.some((e) => e.userId === b.id));
    const asA = await page(a.auth);
    assert.ok(asA.length > 0 && asA.every((e) => e.userId === a.id));
    const asB = (await call('GET', '/v1/audit?limit=500&user=alice', b.auth)).json().items as { userId: string }[];
    assert.ok(
      asB.every((e) => e.userId === b.id),
      "B's audit, even filtered by A's name, holds only B's entries",
    );
  });

  /**
   * Whether fastify's router (find-my-way, with fastify's settings) takes the raw target to a
   * route: what the gateway's hooks would see as that route, whatever answer it then gave.
   */
  function routeMatcher() {
    const router = FindMyWay({ maxParamLength: 100 });
    for (const route of routes()) router.on(route.method as 'GET', route.url, () => undefined);
    return (method: string, target: string) => {
      try {
        return router.find(method as 'GET', target) !== null;
      } catch {
        return false; // undecodable: fastify answers 400 before routing
      }
    };
  }
  const withBody = (method: string) => method === 'POST' || method === 'PATCH' || method === 'PUT';

  // 414: a parameter longer than the router takes (double encoding triples it), refused before routing.
  test('no spelling of a /v1 URL reaches a route without a token: 400, 401, 404 or 414, never 2xx or 500', async () => {
    const client = await rawClient(app, { localAddress: '127.0.0.3' });
    const wrong: string[] = [];
    let tried = 0;
    try {
      for (const route of routes()) {
        for (const method of route.method === 'GET' ? ['GET', 'HEAD'] : [route.method]) {
          await inBatches(pathSpellings(pathOf(route)), 8, async (target) => {
            const res = await client.send(method, target, {}, withBody(method) ? {} : undefined);
            tried++;
            if (![400, 401, 404, 414].includes(res.status))
              wrong.push(`${method} ${target} (${route.url}): ${res.status} ${res.body.slice(0, 120)}`);
          });
        }
      }
    } finally {
      client.close();
    }
    assert.deepEqual(wrong, [], `${wrong.length} of ${tried} spellings got through`);
    assert.ok(tried > routes().length * 30, `${tried} spellings tried`);
  });

  test("no spelling of an admin-only URL reaches it with a tenant's token: 400, 403, 404 or 414", async () => {
    // A token of B's own with room for the requests below: the rate limit is not what is tested here.
    const token = await call('POST', '/v1/tokens', admin, { name: 'spellings', user: b.name, ratePerMinute: 100_000 });
    assert.equal(token.statusCode, 201, token.body);
    const asB = { authorization: `Bearer ${token.json().secret}` };
    const client = await rawClient(app, { localAddress: '127.0.0.4' });
    const wrong: string[] = [];
    try {
      for (const route of routes().filter((r) => r.access === 'admin')) {
        await inBatches(pathSpellings(pathOf(route)), 8, async (target) => {
          const res = await client.send(route.method, target, asB, withBody(route.method) ? {} : undefined);
          if (![400, 403, 404, 414].includes(res.status))
            wrong.push(`${route.method} ${target} (${route.url}): ${res.status} ${res.body.slice(0, 120)}`);
        });
      }
    } finally {
      client.close();
    }
    assert.deepEqual(wrong, []);
  });

  test('every mutating request that reaches a /v1 route is audited, whatever the spelling of its URL', async () => {
    const client = await rawClient(app, { localAddress: '127.0.0.5' });
    const reachesRoute = routeMatcher();
    const reached: string[] = [];
    const succeeded: string[] = [];
    try {
      for (const route of routes().filter((r) => r.method !== 'GET')) {
        await inBatches(pathSpellings(pathOf(route)), 8, async (target) => {
          const res = await client.send(route.method, target, admin, withBody(route.method) ? {} : undefined);
          if (reachesRoute(route.method, target)) reached.push(`${route.method} ${res.status}`);
          if (res.status < 300) succeeded.push(`${route.method} ${target}: ${res.status}`);
        });
      }
    } finally {
      client.close();
    }
    assert.ok(reached.length > 0, 'some spellings reach a route (and are refused there)');
    assert.deepEqual(succeeded, [], 'no other spelling of a URL is served as the URL itself');
    // Entries are written after each response, a batch at a time: wait until they stop coming.
    const audited = async () =>
      (await database.knex('audit').where({ ip: '127.0.0.5' }).select('method', 'status_code')) as {
        method: string;
        status_code: number;
      }[];
    let rows = await audited();
    for (let seen = -1; seen !== rows.length && rows.length < reached.length; ) {
      seen = rows.length;
      await new Promise((r) => setTimeout(r, 500));
      rows = await audited();
    }
    assert.deepEqual(rows.map((r) => `${r.method} ${r.status_code}`).sort(), reached.sort());
  });
});
