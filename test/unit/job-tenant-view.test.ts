/**
 * Every operation of the catalogue, with an example payload that carries every kind of
 * infrastructure there is (a host reached through a jump host, a proxy layout, a DNS server and
 * its key, directories): what a user sees of it holds none of that (security review, finding 13).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jobView } from '../../gateway/views.ts';
import type { JobRow } from '../../gateway/jobs-store.ts';
import { operations } from '../../queues/catalogue.ts';
import { validator } from '../../queues/validate.ts';

const FINGERPRINT = `SHA256:${'Q'.repeat(43)}`;
const JUMP_FINGERPRINT = `SHA256:${'J'.repeat(43)}`;
const HOST = {
  name: 'h1',
  address: '10.92.0.11',
  port: 2222,
  user: 'up-ssh',
  hostKeySha256: FINGERPRINT,
  jump: { name: 'gw', address: '10.92.0.1', port: 2200, user: 'up-jump', hostKeySha256: JUMP_FINGERPRINT },
};
const LAYOUT = {
  group: 'px',
  baseDir: '/srv/up-px',
  httpPort: 8080,
  nginxUser: 'nginx-px',
  ipv6: true,
  httpsPort: 8443,
  acmeIssuer: '10.92.0.12:8080',
};
const ENDPOINT = { address: '10.53.0.53', port: 5353, keyName: 'px-tsig-key', algorithm: 'hmac-sha256' };
const ZONE_SERVER = {
  ...ENDPOINT,
  name: 'lab',
  primary: HOST,
  rndcConf: '/etc/up-bind/rndc.conf',
  zoneDir: '/etc/up-bind/zones',
  nameserver: 'ns1.up-infra.example',
};
const DIRS = { homes: '/home-up-hosts', docRoots: ['/srv/up-px/www'] };

/** How up reaches and lays out its machines: none of it may reach a user. */
const INFRASTRUCTURE = [
  '10.92.0.11',
  '2222',
  'up-ssh',
  FINGERPRINT,
  '10.92.0.1',
  '2200',
  'up-jump',
  JUMP_FINGERPRINT,
  '/srv/up-px',
  'nginx-px',
  '10.92.0.12',
  '10.53.0.53',
  '5353',
  'px-tsig-key',
  '/etc/up-bind',
  'ns1.up-infra.example',
  '/home-up-hosts',
  '/var/log/up-auth.log',
  '/var/lib/up-certs',
  '/etc/up-tls',
  // Where containers hosts publish (website.apply's publishers).
  '10.92.0.40/32',
];

/** The user's own things in the examples: a user who sees a view sees these. */
const ZONE = 'alice-shop.test';
const RECORD = { name: `www.${ZONE}`, type: 'A', ttl: 300, address: '192.0.2.44' };
const CERTIFICATE = { id: '0195e3c2-7b1a-7c3e-9f00-000000000001', name: 'site-shop-alice' };
/** A tenant's container: its published address is the tenant's to know (where its service answers), not how up reaches the host. */
const CONTAINER_TENANT = { name: 'alice', subidStart: 1_000_065_536, network: 'up-alice' };
const CONTAINER_REF = { id: '0195e3c2-7b1a-7c3e-9f00-000000000009', key: 'web-alice', generation: 2, tenant: CONTAINER_TENANT };
const CONTAINER = {
  ...CONTAINER_REF,
  name: 'web',
  image: 'docker.io/library/python:3.12-slim',
  command: ['python3', '-m', 'http.server', '8000'],
  env: { MODE: 'production' },
  ports: [{ container: 8000, host: 20000, address: '192.0.2.21' }],
  volumes: [{ volume: 'data-alice', target: '/srv/data', readOnly: false }],
  limits: { memoryMb: 256, cpus: 0.5, pids: 256 },
  restart: 'on-failure',
  healthcheck: null,
  running: true,
};
/** A container reading a secret: the message carries it sealed; the owner sees its name, use and digest only. */
const SEALED = 'v1.c2VhbGVkLXNlY3JldC1ieXRlcy1ub3QtcmVhbGx5';
const SECRET_USE = { name: 'db-password', env: 'DB_PASSWORD', digest: '0123456789abcdef' };
const CONTAINER_WITH_SECRET = {
  ...CONTAINER,
  secrets: [{ ...SECRET_USE, owner: '0195e3c2-7b1a-7c3e-9f00-000000000099', sealed: SEALED }],
};
const APP = { id: '0195e3c2-7b1a-7c3e-9f00-000000000031', key: 'blog-alice', tenant: CONTAINER_TENANT };
const SITE = {
  id: '0195e3c2-7b1a-7c3e-9f00-000000000002',
  key: 'shop-alice',
  generation: 3,
  owner: 'up-alice',
  serverNames: ['shop-alice.px.example.net', 'www.alice-shop.test'],
  static: false,
  routes: [{ path: '/api/', upstream: '10.0.0.5:8080', websocket: false }],
  maxBodySize: '10m',
  basicAuth: null,
  errorPages: [],
  headers: [],
  redirects: [],
  httpsRedirect: false,
  tls: true,
};
/** A site routing to the owner's container: the allocation is the owner's (as GET /v1/containers shows it); the publishers are not. */
const CONTAINER_SITE = {
  ...SITE,
  routes: [...SITE.routes, { path: '/', upstream: { container: 'web', port: 8080 }, websocket: false }],
  containers: [{ name: 'web', key: 'web-alice', ports: [{ container: 8080, host: 20001, address: '10.0.0.7' }] }],
  publishers: ['10.92.0.40/32'],
};
const { publishers: _, ...CONTAINER_SITE_SHOWN } = CONTAINER_SITE;
const CHECKED = { type: 'website', key: 'shop' };
const dnsCert = {
  certificate: CERTIFICATE,
  names: ['www.alice-shop.test', '*.alice-shop.test'],
  challenge: 'dns-01',
  issuer: { host: HOST, layout: LAYOUT },
  members: [{ host: HOST, layout: LAYOUT }],
  dns: ENDPOINT,
};
const serviceCert = {
  certificate: { id: CERTIFICATE.id, name: 'service-postfix' },
  names: ['mail.alice-shop.test'],
  challenge: 'dns-01',
  host: HOST,
  service: { name: 'postfix', baseDir: '/var/lib/up-certs', deployDir: '/etc/up-tls' },
  dns: ENDPOINT,
};

/** One or more example payloads per operation; each must pass the operation's own schema. */
const EXAMPLES: Record<string, unknown[]> = {
  'system.ping': [{ delayMs: 1, fail: 'transient', failAttempts: 1 }],
  'host.keyscan': [{ address: HOST.address, port: HOST.port, jump: HOST.jump }],
  'host.probe': [{ host: HOST }],
  'host.prepare': [{ host: HOST, packages: ['bind9', 'nginx'] }],
  'dns.server.setup': [
    {
      host: HOST,
      bind: {
        configDir: '/etc/up-bind',
        rndcConf: ZONE_SERVER.rndcConf,
        zoneDir: ZONE_SERVER.zoneDir,
        keyName: ENDPOINT.keyName,
        algorithm: 'hmac-sha256',
        port: 5353,
        secondaries: ['10.92.0.12'],
      },
    },
  ],
  'host.update': [{ host: HOST, apply: true, refresh: true }],
  'dns.zone.create': [{ zone: ZONE, server: ZONE_SERVER, records: [RECORD] }],
  'dns.zone.delete': [{ zone: ZONE, server: ZONE_SERVER }],
  'dns.records.apply': [{ zone: ZONE, server: ENDPOINT, changes: [{ op: 'add', record: RECORD }] }],
  'dns.zone.verify': [{ zone: ZONE, server: { ...ENDPOINT, nameserver: ZONE_SERVER.nameserver }, expected: [RECORD], repair: true }],
  'tenant.provision': [{ host: HOST, tenant: 'alice', uidRange: { start: 1_000_065_536, count: 65536 } }],
  'tenant.deprovision': [{ host: HOST, tenant: 'alice' }],
  'proxy.apply': [{ host: HOST, layout: LAYOUT, wildcardDomain: 'px.example.net', generation: 2 }],
  'website.apply': [
    { host: HOST, layout: LAYOUT, site: SITE },
    { host: HOST, layout: LAYOUT, site: CONTAINER_SITE },
  ],
  'database.server.setup': [
    {
      server: { name: 'pg1', engine: 'postgresql', host: HOST, port: 5433, cluster: 'main' },
      listen: '10.92.0.30',
      tls: { cert: '/etc/up/tls/postgresql/fullchain.pem', key: '/etc/up/tls/postgresql/privkey.pem' },
    },
  ],
  'database.apply': [
    {
      server: { name: 'pg1', engine: 'postgresql', host: HOST, port: 5433, cluster: 'main' },
      database: { id: SITE.id, name: 'alice_shop' },
      grants: [{ user: 'alice_app', access: 'rw' }],
    },
  ],
  'health.check.database': [
    {
      resource: { type: 'database', key: 'alice_shop@pg1' },
      server: { name: 'pg1', engine: 'postgresql', host: HOST, port: 5433, cluster: 'main' },
      database: { id: SITE.id, name: 'alice_shop' },
      grants: [{ user: 'alice_app', access: 'ro' }],
      size: { limitBytes: 1_073_741_824, othersBytes: 0 },
    },
  ],
  'health.repair.database': [
    {
      server: { name: 'my1', engine: 'mariadb', host: HOST, port: 3307, cluster: 'main' },
      database: { id: SITE.id, name: 'alice_shop' },
      grants: [{ user: 'alice_app', access: 'rw' }],
      users: [{ name: 'alice_app', verifier: `*${'B'.repeat(40)}` }],
    },
  ],
  'health.check.db-server': [
    {
      resource: { type: 'db-server', key: 'pg1' },
      server: { name: 'pg1', engine: 'postgresql', host: HOST, port: 5433, cluster: 'main' },
      listen: '10.92.0.30',
      tls: { cert: '/etc/up/tls/postgresql/fullchain.pem', key: '/etc/up/tls/postgresql/privkey.pem' },
      limits: { connectionsMaxPercent: 90, diskMinFreePercent: 10 },
    },
  ],
  'health.repair.db-server': [
    {
      server: { name: 'my1', engine: 'mariadb', host: HOST, port: 3307, cluster: 'main' },
      listen: '10.92.0.31',
      tls: { cert: '/etc/up/tls/mariadb/fullchain.pem', key: '/etc/up/tls/mariadb/privkey.pem' },
    },
  ],
  'database.delete': [
    { server: { name: 'my1', engine: 'mariadb', host: HOST, port: 3307, cluster: 'main' }, database: { id: SITE.id, name: 'alice_shop' } },
  ],
  'database.dump': [
    {
      server: { name: 'pg1', engine: 'postgresql', host: HOST, port: 5432, cluster: 'main' },
      database: { id: SITE.id, name: 'alice_shop' },
    },
  ],
  'database.import': [
    {
      server: { name: 'my1', engine: 'mariadb', host: HOST, port: 3306, cluster: 'main' },
      database: { id: SITE.id, name: 'alice_shop' },
      file: { sha256: 'a'.repeat(64), bytes: 1234, gzip: true },
    },
  ],
  'database.user.apply': [
    {
      server: { name: 'my1', engine: 'mariadb', host: HOST, port: 3307, cluster: 'main' },
      user: { id: SITE.id, name: 'alice_app', verifier: `*${'A'.repeat(40)}` },
    },
    {
      server: { name: 'pg1', engine: 'postgresql', host: HOST, port: 5432, cluster: 'main' },
      user: {
        id: SITE.id,
        name: 'alice_app',
        verifier: `SCRAM-SHA-256$4096:${'A'.repeat(22)}==$${'B'.repeat(43)}=:${'C'.repeat(43)}=`,
        allowFrom: ['192.0.2.0/24', '2001:db8::7/128'],
      },
      databases: [{ name: 'alice_shop', access: 'rw' }],
    },
  ],
  'database.user.delete': [
    {
      server: { name: 'my1', engine: 'mariadb', host: HOST, port: 3307, cluster: 'main' },
      user: { id: SITE.id, name: 'alice_app' },
      databases: ['alice_shop'],
    },
  ],
  'mail.apply': [
    {
      host: HOST,
      layout: {
        hostname: 'mx1.example.net',
        vmailRoot: '/var/vmail',
        vmailUid: 5000,
        tlsDir: '/etc/up/tls',
        ports: { smtp: 25, submission: 587, smtps: 465, imap: 143, imaps: 993 },
      },
      generation: 7,
      state: {
        domains: [{ id: SITE.id, name: 'example.net' }],
        boxes: [
          { id: SITE.id, domainId: SITE.id, address: 'bob@example.net', hash: `$6$salt$${'a'.repeat(86)}`, quotaMb: 10, enabled: true },
        ],
        aliases: [{ source: '@example.net', targets: ['bob@example.net'] }],
        lists: [
          { id: SITE.id, address: 'team@example.net', policy: 'members-only', moderators: [], members: ['bob@example.net', 'x@else.org'] },
        ],
      },
    },
  ],
  'health.repair.mail-host': [
    {
      host: HOST,
      layout: {
        hostname: 'mx1.example.net',
        vmailRoot: '/var/vmail',
        vmailUid: 5000,
        tlsDir: '/etc/up/tls',
        ports: { smtp: 25, submission: 587, smtps: 465, imap: 143, imaps: 993 },
      },
      generation: 7,
      state: {
        domains: [{ id: SITE.id, name: 'example.net' }],
        boxes: [
          { id: SITE.id, domainId: SITE.id, address: 'bob@example.net', hash: `$6$salt$${'a'.repeat(86)}`, quotaMb: 10, enabled: true },
        ],
        aliases: [{ source: '@example.net', targets: ['bob@example.net'] }],
        lists: [],
      },
    },
  ],
  'health.check.mail-host': [
    {
      resource: CHECKED,
      host: HOST,
      layout: {
        hostname: 'mx1.example.net',
        vmailRoot: '/var/vmail',
        vmailUid: 5000,
        tlsDir: '/etc/up/tls',
        ports: { smtp: 25, submission: 587, smtps: 465, imap: 143, imaps: 993 },
      },
      generation: 7,
      queueMax: 500,
    },
  ],
  'website.delete': [{ host: HOST, layout: LAYOUT, site: { id: SITE.id, key: SITE.key, generation: 4 } }],
  'website.deploy': [
    {
      host: HOST,
      layout: LAYOUT,
      site: { id: SITE.id, key: SITE.key, owner: SITE.owner },
      archive: { sha256: 'a'.repeat(64), bytes: 1024 },
    },
  ],
  'container.host.setup': [{ host: HOST, ulimits: { nofile: 65536, nproc: 32768 } }],
  'container.apply': [
    { host: HOST, container: CONTAINER },
    { host: HOST, container: CONTAINER_WITH_SECRET },
  ],
  'container.start': [{ host: HOST, container: CONTAINER_REF }],
  'container.stop': [{ host: HOST, container: CONTAINER_REF }],
  'container.restart': [{ host: HOST, container: CONTAINER_REF }],
  'container.delete': [{ host: HOST, container: CONTAINER_REF }],
  'container.logs': [{ host: HOST, container: { id: CONTAINER.id, key: CONTAINER.key }, tail: 100, since: '2026-12-06T10:00:00.000Z' }],
  'container.stats': [{ host: HOST, keys: [CONTAINER.key] }],
  'health.check.container': [
    {
      resource: CHECKED,
      host: HOST,
      container: { id: CONTAINER.id, key: CONTAINER.key, generation: 2, running: true, healthcheck: false, restarts: 0 },
    },
  ],
  'health.repair.container': [{ host: HOST, container: CONTAINER }],
  'app.build': [
    {
      host: HOST,
      app: APP,
      archive: { sha256: 'a'.repeat(64), bytes: 2048 },
      containerfile: 'FROM localhost/up-django-base:latest\nCOPY . /app\n',
      image: 'localhost/up-app-blog-alice:0123456789abcdef',
      staticDir: '/app/staticfiles',
      collect: { command: ['python3', '-m', 'django', 'collectstatic', '--noinput'], env: { DJANGO_SETTINGS_MODULE: 'app.settings' } },
    },
  ],
  'app.rollout': [
    {
      host: HOST,
      app: APP,
      release: 2,
      replicas: [{ ...CONTAINER, name: 'blog-r2-1', key: 'blog-r2-1-alice', image: 'localhost/up-app-blog-alice:0123456789abcdef' }],
      waitSeconds: 120,
    },
  ],
  'app.retire': [
    {
      host: HOST,
      app: APP,
      site: { id: '0195e3c2-7b1a-7c3e-9f00-000000000032', generation: 4 },
      proxies: [{ host: HOST, layout: LAYOUT }],
      replicas: [{ id: CONTAINER.id, key: 'blog-r1-1-alice', generation: 1 }],
    },
  ],
  'health.check.app': [
    {
      resource: CHECKED,
      host: HOST,
      app: {
        key: 'blog-alice',
        replicas: [
          {
            id: CONTAINER.id,
            key: 'blog-r1-1-alice',
            generation: 1,
            running: true,
            healthcheck: true,
            restarts: 0,
            endpoint: '192.0.2.10:20001',
          },
        ],
      },
    },
  ],
  'health.repair.app': [{ host: HOST, app: APP, replicas: [{ ...CONTAINER, name: 'blog-r1-1', key: 'blog-r1-1-alice' }] }],
  'cert.issue': [dnsCert, { ...dnsCert, challenge: 'http-01', dns: null }, serviceCert],
  'cert.renew': [dnsCert, serviceCert],
  'health.check.host': [{ resource: CHECKED, host: HOST, thresholds: { diskPercent: 90, memoryPercent: 95, loadPerCpu: 4 } }],
  'health.check.proxy': [{ resource: CHECKED, host: HOST, layout: LAYOUT, generation: 2 }],
  'health.repair.proxy': [{ host: HOST, layout: LAYOUT, wildcardDomain: 'px.example.net', generation: 2 }],
  'health.check.website': [
    {
      resource: CHECKED,
      host: HOST,
      layout: LAYOUT,
      site: { id: SITE.id, key: SITE.key, generation: 3, tempDomain: 'shop-alice.px.example.net' },
    },
  ],
  'health.repair.website': [{ host: HOST, layout: LAYOUT, site: SITE }],
  'health.check.security': [
    {
      resource: CHECKED,
      host: HOST,
      authLog: '/var/log/up-auth.log',
      windowMinutes: 15,
      failedLogins: 10,
      mailAuth: { log: '/var/log/dovecot.log', windowMinutes: 15, failedLogins: 10 },
      allowedPorts: [2222],
      dirs: DIRS,
      securityUpdates: 3,
    },
  ],
  'health.repair.security': [{ host: HOST, dirs: DIRS }],
  'health.check.dns-zone': [
    { resource: CHECKED, zone: ZONE, server: { ...ENDPOINT, nameserver: ZONE_SERVER.nameserver }, expected: [RECORD] },
  ],
  'health.check.certificate': [
    {
      resource: CHECKED,
      host: HOST,
      layout: LAYOUT,
      certificate: {
        id: CERTIFICATE.id,
        name: CERTIFICATE.name,
        serverName: 'www.alice-shop.test',
        serial: 'ab12',
        fingerprint: Array(32).fill('AB').join(':'),
        recordedAt: 1,
      },
      renewBeforeDays: 30,
    },
  ],
};

const USER = { role: 'user' } as const;
const job = (op: string, payload: unknown, extra: Partial<JobRow> = {}): JobRow => ({
  id: '0195e3c2-7b1a-7c3e-9f00-0000000000ff',
  op,
  payload_version: 1,
  status: 'failed',
  tenant: 'alice',
  actor: 'alice',
  payload,
  attempt: 1,
  max_attempts: 5,
  correlation_id: 'c',
  idempotency_key: null,
  owner_id: 'u',
  retry_of: null,
  target: null,
  generation: null,
  resource_id: null,
  result: null,
  error: null,
  deadline: null,
  created_at: new Date(0),
  updated_at: new Date(0),
  published_at: null,
  finished_at: null,
  handler_host: null,
  handler_pid: null,
  duration_ms: null,
  next_attempt_at: null,
  resent: 0,
  ...extra,
});

/** The infrastructure values in `text`, each as a whole (2222 inside a longer number does not count). */
const leaks = (text: string) =>
  INFRASTRUCTURE.filter((value) => new RegExp(`(?<![\\w.-])${value.replace(/[.+/]/g, '\\$&')}(?![\\w.])`).test(text));

describe('what a user sees of every operation in the catalogue', () => {
  test('every operation has an example, and every example is a valid payload of it', () => {
    assert.deepEqual(
      operations.map((op) => op.name).filter((name) => !EXAMPLES[name]),
      [],
      'a new operation needs an example here',
    );
    for (const op of operations) {
      const check = validator(op.payload);
      for (const example of EXAMPLES[op.name]) assert.ok(check.check(example), `${op.name}: ${check.errors(example).join('; ')}`);
    }
  });

  test('no host address, port, SSH user, key fingerprint, directory, DNS server or key name reaches a user', () => {
    for (const op of operations) {
      for (const example of EXAMPLES[op.name]) {
        const shown = JSON.stringify(jobView(job(op.name, example), USER));
        assert.deepEqual(leaks(shown), [], `${op.name}: ${shown}`);
      }
    }
  });

  test('…while the admin sees every payload whole', () => {
    for (const op of operations) {
      for (const example of EXAMPLES[op.name])
        assert.deepEqual(jobView(job(op.name, example), { role: 'admin' }).payload, example, op.name);
    }
  });

  test("an operation with a view shows the user's own resource; one without shows no payload", () => {
    const own: Record<string, unknown> = {
      'dns.zone.create': { zone: ZONE, records: [RECORD] },
      'dns.zone.delete': { zone: ZONE },
      'dns.records.apply': { zone: ZONE, changes: [{ op: 'add', record: RECORD }] },
      'dns.zone.verify': { zone: ZONE, expected: [RECORD], repair: true },
      'website.apply': { host: { name: 'h1' }, site: SITE },
      'health.repair.website': { host: { name: 'h1' }, site: SITE },
      'website.delete': { host: { name: 'h1' }, site: { id: SITE.id, key: SITE.key, generation: 4 } },
      'tenant.deprovision': { host: { name: 'h1' }, tenant: 'alice' },
      'container.apply': { host: { name: 'h1' }, container: CONTAINER },
      'container.delete': { host: { name: 'h1' }, container: CONTAINER_REF },
      // Every tenant's mail on the host is in the payload: a user sees which host and generation only.
      'mail.apply': { host: { name: 'h1' }, generation: 7 },
    };
    for (const [op, view] of Object.entries(own)) assert.deepEqual(jobView(job(op, EXAMPLES[op][0]), USER).payload, view, op);
    assert.deepEqual(jobView(job('website.apply', EXAMPLES['website.apply'][1]), USER).payload, {
      host: { name: 'h1' },
      site: CONTAINER_SITE_SHOWN,
    });
    const sealedShown = JSON.stringify(jobView(job('container.apply', EXAMPLES['container.apply'][1]), USER));
    assert.deepEqual(jobView(job('container.apply', EXAMPLES['container.apply'][1]), USER).payload, {
      host: { name: 'h1' },
      container: { ...CONTAINER, secrets: [SECRET_USE] },
    });
    assert.ok(!sealedShown.includes(SEALED), 'the sealed value stays in the job row');
    assert.deepEqual(jobView(job('cert.issue', dnsCert), USER).payload, {
      certificate: CERTIFICATE,
      names: dnsCert.names,
      challenge: 'dns-01',
      hosts: [{ name: 'h1' }],
    });
    for (const op of ['proxy.apply', 'host.probe', 'health.repair.security', 'system.ping']) {
      const shown = jobView(job(op, EXAMPLES[op][0], { result: { host: HOST } }), USER);
      assert.equal(shown.payload, null, op);
      assert.equal(shown.result, null, `${op}: nor its result`);
    }
  });

  test('a result passes with any host in it reduced to its name', () => {
    const shown = jobView(
      job('website.apply', EXAMPLES['website.apply'][0], { result: { host: 'h1', generation: 3, changed: true, via: HOST } }),
      USER,
    );
    assert.deepEqual(shown.result, { host: 'h1', generation: 3, changed: true, via: { name: 'h1' } });
  });

  test('errors, event messages and targets reach the user without what their view leaves out', () => {
    const errors: [string, string][] = [
      ['dns.records.apply', 'no reply from DNS server 10.53.0.53:5353 over udp within 10000 ms'],
      ['dns.records.apply', 'server rejected our TSIG (BADKEY): the server does not know the key (key "px-tsig-key")'],
      ['dns.records.apply', 'TSIG key "px-tsig-key": cannot open /etc/up-bind/keys/px-tsig-key (ENOENT)'],
      ['dns.records.apply', 'connect ECONNREFUSED [::ffff:10.53.0.53]:5353; fe80::1%eth0 unreachable; 2001:db8::53 port 53'],
      ['dns.zone.delete', 'h1: rndc -c /etc/up-bind/rndc.conf delzone failed as up-ssh@10.92.0.11:2222'],
      ['website.apply', `ssh up-jump@[10.92.0.1]:2200 → up-ssh@10.92.0.11:2222: host key mismatch, offered ${FINGERPRINT}`],
      ['website.apply', 'nginx: [emerg] in /srv/up-px/sites/shop-alice.conf:12 and /var/lib/up/content/abc (user nginx-px)'],
      ['website.deploy', `archive is not in the content store (/var/lib/up/content); ${JUMP_FINGERPRINT}`],
      ['cert.issue', 'certbot on h1 (10.92.0.11): DNS update to 10.53.0.53:5353 with key px-tsig-key refused; webroot /srv/up-px/acme'],
    ];
    for (const [op, message] of errors) {
      const shown = jobView(
        job(op, EXAMPLES[op][0], { error: { kind: 'permanent', message }, target: 'alice-shop.test@10.53.0.53' }),
        USER,
        [
          {
            job_id: 'j',
            attempt: 1,
            delivery: 1,
            status: 'running',
            at: new Date(0),
            handler_host: 'worker-7',
            handler_pid: 1,
            target: null,
            duration_ms: null,
            message,
          },
        ],
      );
      const text = JSON.stringify(shown);
      assert.deepEqual(leaks(text), [], text);
      assert.ok(!/2001:db8::53|fe80::1|\/var\/lib\/up\/content|worker-7/.test(text), text);
      assert.equal(shown.target, 'alice-shop.test@[hidden]');
    }
    const example = EXAMPLES['dns.records.apply'][0];
    const own = jobView(
      job('dns.records.apply', example, {
        error: { kind: 'permanent', message: `www.${ZONE} A 192.0.2.44: YXRRSET; document root is fine` },
      }),
      USER,
    );
    assert.equal(
      own.error!.message,
      `www.${ZONE} A 192.0.2.44: YXRRSET; document root is fine`,
      'what the user gave themselves stays, and so do ordinary words',
    );
  });
});
