/**
 * Upstream addresses are values, not text (security review finding 2): every spelling of a
 * loopback, link-local, special or embedded address is refused, odd IPv4 notations are
 * invalid, accepted ones come out in one canonical spelling, and the policy (the proxy itself,
 * the control plane, the group's networks) holds for every spelling too.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import websiteApplyHandler from '../../handlers/websites/website.apply/handler.ts';
import { checkedRoutes } from '../../handlers/websites/website.apply/upstreams.ts';
import { ConfigError, loadConfig } from '../../lib/config.ts';
import { PermanentError, InputError } from '../../lib/errors.ts';
import { websiteApply } from '../../queues/websites/ops.ts';
import { validator } from '../../queues/validate.ts';
import { embeddedIPv4, NetworkSet, parseAddress, parseNetwork } from '../../lib/validate/address.ts';
import { DenyList, parseEndpoint, upstreamRefusal, type UpstreamPolicy } from '../../lib/validate/upstream.ts';
import { normalizeNetwork, normalizeUpstream } from '../../lib/validate/web.ts';

/** The proxy's own services, in every spelling the review and its variants found. */
const BLOCKED = [
  // IPv4 as written
  '127.0.0.1:9999',
  '127.1.2.3:80',
  '127.255.255.254:80',
  '0.0.0.0:80',
  '0.1.2.3:80',
  '169.254.169.254:80',
  '169.254.0.1:80',
  '224.0.0.1:80',
  '239.255.255.250:1900',
  '255.255.255.255:80',
  '240.0.0.1:80',
  // cloud metadata services outside link-local, in any spelling
  '100.100.100.200:80',
  '[::ffff:6464:64c8]:80',
  '[fd00:ec2::254]:80',
  '[FD00:EC2:0:0:0:0:0:254]:80',
  // IPv6 loopback and unspecified, long, zero-padded, upper case
  '[::1]:9998',
  '[0::1]:80',
  '[0:0:0:0:0:0:0:1]:80',
  '[0000:0000:0000:0000:0000:0000:0000:0001]:80',
  '[::0:1]:80',
  '[0:0::0:0:1]:80',
  '[::]:80',
  '[0::0]:80',
  '[0:0:0:0:0:0:0:0]:80',
  // IPv4-mapped, in dotted, hex, long, padded and upper-case spellings
  '[::ffff:127.0.0.1]:9999',
  '[::FFFF:127.0.0.1]:80',
  '[::ffff:7f00:1]:9999',
  '[::FFFF:7F00:0001]:80',
  '[0:0:0:0:0:ffff:7f00:1]:80',
  '[0000:0000:0000:0000:0000:ffff:7f00:0001]:80',
  '[0:0:0:0:0:FFFF:127.0.0.1]:80',
  '[::ffff:169.254.169.254]:80',
  '[::ffff:a9fe:a9fe]:80',
  '[::ffff:0.0.0.0]:80',
  '[::ffff:0:0]:80',
  '[::ffff:e000:1]:80',
  '[::ffff:ffff:ffff]:80',
  '[::ffff:7f12:3456]:80',
  // IPv4-compatible (deprecated): refused whole, whatever it embeds
  '[::127.0.0.1]:80',
  '[::7f00:1]:80',
  '[::10.0.0.5]:80',
  '[::a00:5]:80',
  '[::8.8.8.8]:80',
  // SIIT IPv4-translated
  '[::ffff:0:127.0.0.1]:80',
  '[::ffff:0:7f00:1]:80',
  '[::ffff:0:a9fe:a9fe]:80',
  // NAT64 well-known prefix; local-use NAT64 refused whole
  '[64:ff9b::127.0.0.1]:80',
  '[64:ff9b::7f00:1]:80',
  '[64:FF9B::A9FE:A9FE]:80',
  '[64:ff9b:0:0:0:0:7f00:1]:80',
  '[64:ff9b::0.0.0.0]:80',
  '[64:ff9b:1::a00:1]:80',
  '[64:ff9b:1:ffff::1]:80',
  // 6to4 relays on a blocked IPv4 address
  '[2002:7f00:1::]:80',
  '[2002:7f00:0001::1]:80',
  '[2002:a9fe:a9fe::1]:80',
  '[2002:0:0::1]:80',
  // Teredo: server or (inverted) client on a blocked address
  '[2001:0:7f00:1::1]:80',
  '[2001:0:4136:e378:8000:63bf:80ff:fffe]:80',
  '[2001::a9fe:a9fe:0:0:5601:5601]:80',
  // ISATAP interface identifiers
  '[2001:db8::5efe:127.0.0.1]:80',
  '[2001:db8::200:5efe:7f00:1]:80',
  // link-local, site-local, multicast
  '[fe80::1]:80',
  '[FE80::1]:80',
  '[fe80:0:0:0:0:0:0:1]:80',
  '[febf::1]:80',
  '[fec0::1]:80',
  '[ff02::1]:80',
  '[ff05::1:3]:80',
  '[FF0E::1]:80',
];

/** Not an address at all: odd IPv4 notations nginx or a resolver would turn into loopback, scope ids, junk. */
const INVALID = [
  '0177.0.0.1:80',
  '2130706433:80',
  '0x7f.0.0.1:80',
  '0x7f000001:80',
  '127.1:80',
  '127.0.1:80',
  '127.0.0.01:80',
  '127.000.000.001:80',
  '[fe80::1%eth0]:80',
  '[fe80::1%25eth0]:80',
  '[::1%lo]:80',
  '[::ffff:127.000.0.1]:80',
  '[::ffff:0177.0.0.1]:80',
  '[127.0.0.1]:80',
  '::1:80',
  '::ffff:127.0.0.1:80',
  '10.0.0.5',
  '10.0.0.5:0',
  '10.0.0.5:65536',
  '10.0.0.5:99999',
  '10.0.0.5:80:80',
  '10.0.0.5:',
  ':80',
  'example.com:80',
  'localhost:80',
  '[]:80',
  '[::1]',
  '[::1]80',
  ' 10.0.0.5:80',
  '10.0.0.5 :80',
  '10.0.0.5:8 0',
  '[1::2:3:4:5:6:7:8]:80',
  '[gggg::1]:80',
  '[::1::2]:80',
  '[12345::1]:80',
  '10.0.0.256:80',
  '1.2.3.4.5:80',
  '[::ffff:1.2.3]:80',
  '10.0.0.5:+80',
  '10.0.0.5:-1',
];

const ACCEPTED: [string, string][] = [
  ['10.0.0.5:3000', '10.0.0.5:3000'],
  ['10.0.0.5:03000', '10.0.0.5:3000'],
  ['192.0.2.7:1', '192.0.2.7:1'],
  ['[2001:DB8::5]:80', '[2001:db8::5]:80'],
  ['[2001:0db8:0000:0000:0000:0000:0000:0005]:80', '[2001:db8::5]:80'],
  ['[2001:db8:0:0:1:0:0:1]:80', '[2001:db8::1:0:0:1]:80'],
  ['[::ffff:10.0.0.5]:80', '10.0.0.5:80'],
  ['[::FFFF:a00:5]:80', '10.0.0.5:80'],
  ['[0:0:0:0:0:ffff:0a00:0005]:80', '10.0.0.5:80'],
  ['[64:ff9b::8.8.8.8]:80', '[64:ff9b::808:808]:80'],
  ['[2002:808:808::1]:80', '[2002:808:808::1]:80'],
  ['[fd00::1]:8080', '[fd00::1]:8080'],
  ['[FD12:3456:789A::1]:65535', '[fd12:3456:789a::1]:65535'],
];

test('every spelling of a loopback, link-local, special or embedded address is refused, naming the field', () => {
  for (const spelling of BLOCKED) {
    assert.throws(
      () => normalizeUpstream(spelling, 'body/routes/0/upstream'),
      (e: Error) =>
        e instanceof InputError && e.message.startsWith('body/routes/0/upstream ') && /must not point|not accepted/.test(e.message),
      spelling,
    );
  }
});

test('odd notations, scope ids and junk are invalid, not reinterpreted', () => {
  for (const spelling of INVALID) {
    assert.throws(
      () => normalizeUpstream(spelling, 'body/routes/0/upstream'),
      (e: Error) => e instanceof InputError && e.message.startsWith('body/routes/0/upstream ') && !/must not point/.test(e.message),
      spelling,
    );
  }
});

test('accepted upstreams come out in one canonical spelling (IPv4-mapped as IPv4, IPv6 compressed lower case)', () => {
  for (const [spelling, canonical] of ACCEPTED) assert.equal(normalizeUpstream(spelling, 'u'), canonical, spelling);
  // The canonical form is a fixed point.
  for (const [, canonical] of ACCEPTED) assert.equal(normalizeUpstream(canonical, 'u'), canonical);
});

test('addresses: IPv4 embedded in IPv6 by every translation scheme is found', () => {
  const embedded = (text: string) => embeddedIPv4(parseAddress(text)!);
  assert.deepEqual(embedded('64:ff9b::c000:201').ipv4, ['192.0.2.1']);
  assert.deepEqual(embedded('2002:c000:201::1').ipv4, ['192.0.2.1']);
  assert.deepEqual(embedded('::ffff:0:c000:201').ipv4, ['192.0.2.1']);
  assert.deepEqual(embedded('2001:0:4136:e378:8000:63bf:3fff:fdd2').ipv4, ['65.54.227.120', '192.0.2.45']);
  assert.deepEqual(embedded('fe80::200:5efe:c000:201').ipv4, ['192.0.2.1']);
  assert.match(embedded('::c000:201').refused!, /IPv4-compatible/);
  assert.match(embedded('64:ff9b:1::c000:201').refused!, /local-use NAT64/);
  assert.deepEqual(embedded('2001:db8::1'), { ipv4: [], refused: null });
  assert.equal(parseAddress('::ffff:192.0.2.1')?.text, '192.0.2.1');
  assert.equal(parseAddress('fe80::1%eth0'), null);
});

test('networks: canonical CIDRs, host bits refused, IPv4-mapped networks become IPv4', () => {
  assert.equal(normalizeNetwork('10.0.0.0/8', 'n'), '10.0.0.0/8');
  assert.equal(normalizeNetwork('FD00::/8', 'n'), 'fd00::/8');
  assert.equal(normalizeNetwork('::ffff:10.0.0.0/104', 'n'), '10.0.0.0/8');
  assert.equal(normalizeNetwork('192.0.2.5', 'n'), '192.0.2.5/32');
  for (const bad of [
    '10.0.0.1/8',
    '10.0.0.0/33',
    '10.0.0.0/08',
    'fd00::/129',
    '::ffff:10.0.0.0/95',
    '10.0.0.0/8/8',
    'fd00::1%eth0/64',
    '0177.0.0.0/8',
    '10/8',
  ]) {
    assert.throws(
      () => normalizeNetwork(bad, 'body/upstreamNetworks/0'),
      (e: Error) => e instanceof InputError && e.message.startsWith('body/upstreamNetworks/0 '),
      bad,
    );
  }
  assert.equal(typeof parseNetwork('10.0.0.1/8'), 'string');
});

const endpoint = (raw: string) => {
  const parsed = parseEndpoint(raw);
  assert.notEqual(typeof parsed, 'string', raw);
  return parsed as Exclude<typeof parsed, string>;
};

test('the policy: the proxy itself on any port, the control plane in any spelling, the group networks', () => {
  const policy: UpstreamPolicy = {
    self: new NetworkSet(['192.0.2.10/32', '2001:db8::10/128', '10.92.0.11/32']),
    deny: [DenyList.parse('10.50.0.0/16, [fd00::5]:5672, fd00:1::/64'), DenyList.ofEndpoints([{ address: '10.92.0.12', port: 22 }])],
    allowed: null,
  };
  const refused = (raw: string) => upstreamRefusal(endpoint(raw), policy);
  for (const raw of [
    '192.0.2.10:8080',
    '[::ffff:192.0.2.10]:80',
    '[::ffff:c000:20a]:80',
    '[2001:db8::10]:80',
    '[2001:DB8:0:0:0:0:0:10]:80',
    '[2002:c000:20a::1]:80',
    '[64:ff9b::c000:20a]:80',
    '10.92.0.11:1',
  ]) {
    assert.match(refused(raw) ?? '', /proxy hosts themselves/, raw);
  }
  for (const raw of [
    '10.50.1.2:5432',
    '[::ffff:10.50.1.2]:5432',
    '[64:ff9b::a32:102]:5432',
    '[2002:a32:102::]:80',
    '10.92.0.12:22',
    '[::ffff:a5c:c]:22',
    '[fd00::5]:5672',
    '[FD00:0::5]:5672',
    '[fd00:1::9]:80',
  ]) {
    assert.match(refused(raw) ?? '', /hosting platform's own services/, raw);
  }
  for (const raw of ['10.92.0.12:80', '[fd00::5]:80', '10.51.0.1:5432', '[fd00:2::9]:80']) assert.equal(refused(raw), null, raw);

  const restricted: UpstreamPolicy = { ...policy, allowed: new NetworkSet(['10.20.0.0/16', 'fd20::/48']) };
  assert.equal(upstreamRefusal(endpoint('10.20.1.2:80'), restricted), null);
  assert.equal(upstreamRefusal(endpoint('[::ffff:10.20.1.2]:80'), restricted), null);
  assert.equal(upstreamRefusal(endpoint('[fd20::7]:80'), restricted), null);
  for (const raw of ['10.21.0.1:80', '8.8.8.8:80', '[fd21::7]:80', '[64:ff9b::a14:102]:80']) {
    assert.match(
      upstreamRefusal(endpoint(raw), restricted) ?? '',
      /networks this proxy group allows for upstreams \(10\.20\.0\.0\/16, fd20::\/48\)/,
      raw,
    );
  }
  // Loopback stays refused even inside an allowed network.
  assert.match(upstreamRefusal(endpoint('127.0.0.1:80'), { ...policy, allowed: new NetworkSet(['0.0.0.0/0']) }) ?? '', /loopback/);
});

test('UP_UPSTREAM_DENY: CIDRs, addresses and endpoints; a bad entry is named', () => {
  const list = DenyList.parse(' 10.0.0.0/8 ,192.0.2.5, 192.0.2.6:5432,[::ffff:192.0.2.7]:80 ');
  assert.deepEqual(list.networks.networks, ['10.0.0.0/8', '192.0.2.5/32']);
  assert.deepEqual([...list.endpoints], ['192.0.2.6:5432', '192.0.2.7:80']);
  assert.deepEqual(DenyList.parse(undefined).networks.networks, []);
  for (const bad of ['10.0.0.0/33', 'db.internal:5432', '10.0.0.1:0', '0177.0.0.1', '10.0.0.1/8']) {
    assert.throws(
      () => DenyList.parse(`192.0.2.1,${bad}`),
      new RegExp(`UP_UPSTREAM_DENY .*bad entry "${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"`),
      bad,
    );
  }
});

test('website.apply checks every upstream again: a stored or replayed message with a refused one fails for good, before touching the host', async () => {
  const host = { name: 'm1', address: '10.92.0.11', port: 22, user: 'root', hostKeySha256: `SHA256:${'A'.repeat(43)}` };
  const layout = { group: 'p1', baseDir: '/srv/up/nginx', httpPort: 80, nginxUser: 'www-data', ipv6: false };
  const site = {
    id: '01234567-89ab-4cde-8f01-23456789abcd',
    key: 'shop-alice',
    generation: 2,
    owner: 'up-alice',
    serverNames: ['shop-alice.p1.example.net'],
    static: true,
    routes: [{ path: '/x/', upstream: '10.0.0.5:80', websocket: false }],
    maxBodySize: '10m',
    basicAuth: null,
    errorPages: [],
    headers: [],
    redirects: [],
    httpsRedirect: false,
    tls: false,
  };
  const connected: string[] = [];
  const ctx = {
    signal: new AbortController().signal,
    log: pino({ level: 'silent' }),
    job: { id: 'j', attempt: 1, tenant: 'alice', actor: 'alice', target: null },
    connect: (h: { name: string }) => {
      connected.push(h.name);
      throw new Error('reached the host');
    },
  };
  const wire = validator(websiteApply.payload);
  const refused = async (upstream: string, over: Record<string, unknown> = {}) => {
    const payload = { host, layout: { ...layout, ...over }, site: { ...site, routes: [{ path: '/x/', upstream, websocket: false }] } };
    // The wire schema lets these through (they look like addresses): the handler is what stops them.
    assert.ok(wire.check(payload), `${upstream}: ${wire.errors(payload).join('; ')}`);
    await assert.rejects(
      websiteApplyHandler.run(payload as never, ctx as never),
      (e: Error) => e instanceof PermanentError && e.code === 'UPSTREAM_REFUSED',
      upstream,
    );
  };
  for (const upstream of [
    '[::ffff:127.0.0.1]:9999',
    '[::ffff:7f00:1]:9999',
    '[0:0:0:0:0:0:0:1]:9998',
    '[::ffff:169.254.169.254]:80',
    '[64:ff9b::7f00:1]:80',
  ])
    await refused(upstream);
  await refused('10.92.0.11:8080'); // the member itself
  await refused('[::ffff:a5c:b]:22'); // its SSH
  await refused('10.0.0.5:80', { upstreamNetworks: ['10.20.0.0/16'] });
  const saved = process.env.UP_UPSTREAM_DENY;
  process.env.UP_UPSTREAM_DENY = '10.0.0.0/24';
  try {
    await refused('10.0.0.5:80');
  } finally {
    if (saved === undefined) delete process.env.UP_UPSTREAM_DENY;
    else process.env.UP_UPSTREAM_DENY = saved;
  }
  assert.deepEqual(connected, [], 'no refused message reached the host');
  // An allowed one goes on to the host, in its canonical spelling.
  await assert.rejects(websiteApplyHandler.run({ host, layout, site } as never, ctx as never), /reached the host/);
  assert.deepEqual(connected, ['m1']);
  assert.deepEqual(checkedRoutes({ ...site, routes: [{ path: '/x/', upstream: '[::ffff:a00:5]:80', websocket: false }] }, layout, host), [
    { path: '/x/', upstream: '10.0.0.5:80', websocket: false },
  ]);
});

test('a bad UP_UPSTREAM_DENY stops the process at start, naming the variable and the entry', () => {
  assert.throws(
    () => loadConfig({ UP_UPSTREAM_DENY: '10.0.0.0/8,db.internal:5432' }),
    (e: Error) => e instanceof ConfigError && /UP_UPSTREAM_DENY .*"db\.internal:5432"/.test(e.message),
  );
  assert.doesNotThrow(() => loadConfig({ UP_UPSTREAM_DENY: '10.0.0.0/8, 192.0.2.5:5432, [fd00::5]:5672' }));
});

test("container routes: only the owner's allocated published ports may sit on a managed host, and only through the allocation", () => {
  const host = { name: 'm1', address: '10.92.0.11', port: 22, user: 'root', hostKeySha256: `SHA256:${'A'.repeat(43)}` };
  const layout = { group: 'p1', baseDir: '/srv/up/nginx', httpPort: 80, nginxUser: 'www-data', ipv6: false };
  const web = { container: 'web', port: 8080 };
  const site = {
    id: '01234567-89ab-4cde-8f01-23456789abcd',
    key: 'shop-alice',
    generation: 2,
    owner: 'up-alice' as string | null,
    serverNames: ['shop-alice.p1.example.net'],
    static: false,
    routes: [{ path: '/', upstream: web as string | typeof web, websocket: false }],
    maxBodySize: '10m',
    basicAuth: null,
    errorPages: [],
    headers: [],
    redirects: [],
    httpsRedirect: false,
    tls: false,
    containers: [{ name: 'web', key: 'web-alice', ports: [{ container: 8080, host: 20001, address: '10.92.0.11' }] }],
    publishers: undefined as string[] | undefined,
  };
  const wire = validator(websiteApply.payload);
  const refusedWith = (over: Partial<typeof site>, reason: RegExp) =>
    assert.throws(
      () => checkedRoutes({ ...site, ...over }, layout, host),
      (e: Error) => e instanceof PermanentError && e.code === 'UPSTREAM_REFUSED' && reason.test(e.message),
    );

  // The member's own address, at exactly the port allocated to alice's container: allowed.
  assert.ok(wire.check({ host, layout, site }), wire.errors({ host, layout, site }).join('; '));
  assert.deepEqual(checkedRoutes(site, layout, host), [{ path: '/', websocket: false, endpoints: ['10.92.0.11:20001'] }]);
  // The same endpoint written as a fixed upstream is the proxy itself: no flag to forge.
  refusedWith({ routes: [{ path: '/', upstream: '10.92.0.11:20001', websocket: false }] }, /proxy hosts themselves/);
  // An allocation that is another tenant's, or outside the published range, or special: refused.
  refusedWith({ containers: [{ ...site.containers[0], key: 'web-bob' }] }, /not the site owner's container/);
  refusedWith({ owner: null }, /not the site owner's container/);
  refusedWith(
    { containers: [{ ...site.containers[0], ports: [{ container: 8080, host: 22, address: '10.92.0.11' }] }] },
    /publishes containers/,
  );
  refusedWith({ containers: [{ ...site.containers[0], ports: [{ container: 8080, host: 20001, address: '127.0.0.1' }] }] }, /loopback/);
  const saved = process.env.UP_UPSTREAM_DENY;
  process.env.UP_UPSTREAM_DENY = '10.92.0.11:20001';
  try {
    refusedWith({}, /hosting platform's own services/);
  } finally {
    if (saved === undefined) delete process.env.UP_UPSTREAM_DENY;
    else process.env.UP_UPSTREAM_DENY = saved;
  }
  // A fixed upstream into the published range of a containers host (another tenant's container, perhaps): refused.
  const publishers = ['10.70.0.0/24'];
  refusedWith({ publishers, routes: [{ path: '/', upstream: '10.70.0.5:20001', websocket: false }] }, /publishes containers on/);
  assert.deepEqual(
    checkedRoutes({ ...site, publishers, routes: [{ path: '/', upstream: '10.70.0.5:8080', websocket: false }] }, layout, host),
    [{ path: '/', websocket: false, upstream: '10.70.0.5:8080' }],
  );
  const allocated = { ...site.containers[0], ports: [{ container: 8080, host: 20001, address: '10.70.0.5' }] };
  assert.deepEqual(checkedRoutes({ ...site, publishers, containers: [allocated] }, layout, host), [
    { path: '/', websocket: false, endpoints: ['10.70.0.5:20001'] },
  ]);
  // A container the allocation does not hold (deleted with force): no endpoint, the vhost answers 502.
  assert.deepEqual(checkedRoutes({ ...site, containers: [] }, layout, host), [{ path: '/', websocket: false, endpoints: [] }]);
  // The wire schema already refuses an allocated port outside the range up publishes on.
  const sshPort = { ...site, containers: [{ ...site.containers[0], ports: [{ container: 8080, host: 22, address: '10.92.0.11' }] }] };
  assert.equal(wire.check({ host, layout, site: sshPort }), false);
});
