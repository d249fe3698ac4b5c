/**
 * What a tenant sees of their jobs: their site and their zone, never how up reaches its machines
 * (security review, finding 13). Only the gateway runs: the jobs stay queued, and a handler's
 * failure is written the way the recorder writes it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { v7 } from 'uuid';
import { createToken } from '../../gateway/users/token-store.ts';
import { createUser } from '../../gateway/users/store.ts';
import { startStack } from '../helpers/stack.ts';

type Stack = Awaited<ReturnType<typeof startStack>>;
type Auth = { authorization: string };
type Json = Record<string, any>;

const FINGERPRINT = `SHA256:${'Q'.repeat(43)}`;
const JUMP_FINGERPRINT = `SHA256:${'J'.repeat(43)}`;
/** Everything about how up reaches the proxy host; none of it may reach a tenant. */
const INFRASTRUCTURE = [
  '10.92.0.11',
  '2222',
  'up-ssh',
  FINGERPRINT,
  '10.92.0.1',
  '2200',
  JUMP_FINGERPRINT,
  '/srv/up-px',
  'nginx-px',
  'worker-7',
  '10.53.0.53',
  'px-tsig-key',
  '/etc/up-bind',
];

describe('a tenant sees their jobs without the infrastructure', () => {
  let stack: Stack;
  let alice: Auth;
  let siteJob: Json;

  before(async () => {
    stack = await startStack({ roles: ['gateway'] });
    const db = stack.database!.knex;
    const key = (c: string) => `SHA256:${c.repeat(43)}`;
    await db('hosts').insert({
      id: v7(),
      name: 'gw',
      address: '10.92.0.1',
      port: 2200,
      ssh_user: 'up-ssh',
      host_key_sha256: JUMP_FINGERPRINT,
      roles: ['proxy'],
    });
    await db('hosts').insert({
      id: v7(),
      name: 'h1',
      address: '10.92.0.11',
      port: 2222,
      ssh_user: 'up-ssh',
      host_key_sha256: FINGERPRINT,
      roles: ['proxy'],
      jump_host: 'gw',
    });
    await db('hosts').insert({
      id: v7(),
      name: 'dns1',
      address: '10.53.0.54',
      port: 22,
      ssh_user: 'root',
      host_key_sha256: key('D'),
      roles: ['dns'],
    });
    const user = (await createUser(db, { name: 'alice', role: 'user' }))!;
    alice = {
      authorization: `Bearer ${(await createToken(db, { userId: user.id, name: 't', scopes: ['read', 'write'], allowFrom: [], ratePerMinute: null, expiresAt: null })).secret}`,
    };
    assert.equal(
      (
        await call('POST', '/v1/proxies', {
          name: 'px',
          wildcardDomain: 'px.example.net',
          addresses: ['192.0.2.10'],
          baseDir: '/srv/up-px',
          nginxUser: 'nginx-px',
        })
      ).statusCode,
      202,
    );
    assert.equal((await call('POST', '/v1/proxies/px/hosts', { host: 'h1' })).statusCode, 202);
    const server = await call('POST', '/v1/dns/servers', {
      name: 'lab',
      primary: 'dns1',
      address: '10.53.0.53',
      port: 5353,
      rndcConf: '/etc/up-bind/rndc.conf',
      zoneDir: '/etc/up-bind/zones',
      keyName: 'px-tsig-key',
    });
    assert.equal(server.statusCode, 201, server.body);
  });

  after(async () => {
    await stack?.shutdown();
  });

  function call(method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown, auth: Auth = stack.auth) {
    return stack.app!.inject({ method, url, payload: body as never, headers: auth });
  }

  /** The infrastructure values in `body`, each as a whole (2222 inside a job id does not count). */
  const leaks = (body: string) =>
    INFRASTRUCTURE.filter((value) => new RegExp(`(?<![\\w.-])${value.replace(/[.+/]/g, '\\$&')}(?![\\w.])`).test(body));

  test("the 202 of a tenant's change, the job and the job list show the host by name only", async () => {
    const created = await call(
      'POST',
      '/v1/websites',
      { name: 'shop', proxy: 'px', routes: [{ path: '/api', upstream: '10.0.0.5:8080' }] },
      alice,
    );
    assert.equal(created.statusCode, 202, created.body);
    assert.deepEqual(leaks(created.body), [], 'the 202 body');
    siteJob = created.json().jobs.find((j: Json) => j.op === 'website.apply');
    assert.deepEqual(siteJob.payload.host, { name: 'h1' });
    assert.equal(siteJob.payload.layout, undefined, "the group's nginx layout is the admin's");
    assert.equal(siteJob.payload.site.routes[0].upstream, '10.0.0.5:8080', 'their own site stays whole');
    assert.equal(siteJob.target, 'website/shop@h1', 'a host name is shown (the site view names its hosts too)');

    const one = await call('GET', `/v1/jobs/${siteJob.id}`, undefined, alice);
    assert.equal(one.statusCode, 200);
    assert.deepEqual(leaks(one.body), [], 'GET /v1/jobs/:id');
    const list = await call('GET', '/v1/jobs?limit=500', undefined, alice);
    assert.ok(list.json().items.length > 0);
    assert.deepEqual(leaks(list.body), [], 'GET /v1/jobs');
  });

  test('the admin sees the same job whole', async () => {
    const job = (await call('GET', `/v1/jobs/${siteJob.id}`)).json();
    assert.equal(job.payload.host.address, '10.92.0.11');
    assert.equal(job.payload.host.port, 2222);
    assert.equal(job.payload.host.hostKeySha256, FINGERPRINT);
    assert.equal(job.payload.host.jump.address, '10.92.0.1');
    assert.equal(job.payload.layout.baseDir, '/srv/up-px');
  });

  test("a handler's error and events reach the tenant without addresses, ports, users, paths or the handler's machine", async () => {
    const db = stack.database!.knex;
    const message =
      'h1: ssh up-ssh@10.92.0.11:2222 via 10.92.0.1:2200: connect ECONNREFUSED; ' +
      'nginx: [emerg] unknown directive in /srv/up-px/sites/shop-alice.conf:3; host key is not ' +
      FINGERPRINT;
    await db('jobs')
      .where({ id: siteJob.id })
      .update({
        status: 'failed',
        attempt: 1,
        error: { kind: 'permanent', message },
        finished_at: db.fn.now(),
        handler_host: 'worker-7',
        handler_pid: 12,
      });
    await db('job_events').insert({
      job_id: siteJob.id,
      attempt: 1,
      status: 'running',
      at: new Date(Date.now() - 1000),
      handler_host: 'worker-7',
      handler_pid: 12,
      target: siteJob.target,
      message: 'connecting to [::ffff:10.92.0.11]:2222 and 10.92.0.11',
    });
    const asAlice = await call('GET', `/v1/jobs/${siteJob.id}`, undefined, alice);
    assert.deepEqual(leaks(asAlice.body), [], asAlice.body);
    const job = asAlice.json();
    assert.match(job.error.message, /connect ECONNREFUSED/, 'what went wrong is still said');
    assert.match(job.error.message, /unknown directive/);
    assert.ok(
      job.events.every((e: Json) => e.handler === null),
      'which machine ran the handler is not theirs to know',
    );
    const asAdmin = (await call('GET', `/v1/jobs/${siteJob.id}`)).json();
    assert.equal(asAdmin.error.message, message, 'the admin reads it as written');
    assert.ok(asAdmin.events.some((e: Json) => e.handler?.host === 'worker-7'));
  });

  test("a tenant's DNS job and zone show the zone and records, not the DNS server, its key or directories", async () => {
    const db = stack.database!.knex;
    const zone = await call('POST', '/v1/dns/zones', { name: 'alice-shop.test' }, alice);
    assert.equal(zone.statusCode, 202, zone.body);
    assert.deepEqual(leaks(zone.body), [], zone.body);
    assert.deepEqual(zone.json().payload, { zone: 'alice-shop.test' });
    const failure =
      `dns.zone.create job ${zone.json().id} failed: TSIG key "px-tsig-key": cannot open /etc/up-bind/keys/px-tsig-key (ENOENT); ` +
      'no reply from DNS server 10.53.0.53:5353 over udp within 10000 ms';
    await db('dns_zones').where({ name: 'alice-shop.test' }).update({ status: 'error', status_message: failure });
    const shown = await call('GET', '/v1/dns/zones/alice-shop.test', undefined, alice);
    assert.deepEqual(leaks(shown.body), [], shown.body);
    assert.match(shown.json().statusMessage, /no reply from DNS server \[hidden\] over udp/);
    assert.deepEqual(leaks((await call('GET', '/v1/dns/zones', undefined, alice)).body), []);
    assert.equal((await call('GET', '/v1/dns/zones/alice-shop.test')).json().statusMessage, failure, 'the admin reads it whole');
  });
});
