import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { zoneConfig, zoneFileText } from '../../handlers/dns/dns.zone.create/rndc.ts';
import { updateOf } from '../../handlers/dns/dns.records.apply/changes.ts';
import { compareZone } from '../../handlers/dns/dns.zone.verify/compare.ts';
import {
  absoluteName,
  checkRRsetRules,
  normaliseZoneName,
  presentValue,
  relativeName,
  validateRecord,
  type RecordSpec,
} from '../../lib/dns/validate.ts';
import type { ZoneServer } from '../../queues/dns/ops.ts';
import { InputError } from '../../lib/errors.ts';

const ZONE = 'example.test';
const fails = (fn: () => unknown, field: RegExp, status = 400) =>
  assert.throws(fn, (error: unknown) => error instanceof InputError && field.test(error.field) && error.status === status);

describe('zone and record names', () => {
  test('zones are lower-case ASCII, IDN as punycode, at least two labels', () => {
    assert.equal(normaliseZoneName('Example.TEST.'), 'example.test');
    assert.equal(normaliseZoneName('bücher.example'), 'xn--bcher-kva.example');
    for (const bad of ['test', 'a..test', 'a;b.test', 'a b.test', 'x{y}.test', '-a.test', 'a$.test', '', 'a/b.test'])
      fails(() => normaliseZoneName(bad, 'body/name'), /^body\/name$/);
  });

  test('record names: @, relative, absolute inside the zone; never outside it', () => {
    assert.equal(absoluteName('@', ZONE, 'n'), ZONE);
    assert.equal(absoluteName('WWW', ZONE, 'n'), `www.${ZONE}`);
    assert.equal(absoluteName('_sip._tcp', ZONE, 'n'), `_sip._tcp.${ZONE}`);
    assert.equal(absoluteName('*.dev', ZONE, 'n'), `*.dev.${ZONE}`);
    assert.equal(absoluteName(`a.${ZONE}.`, ZONE, 'n'), `a.${ZONE}`);
    assert.equal(relativeName(`a.b.${ZONE}`, ZONE), 'a.b');
    assert.equal(relativeName(ZONE, ZONE), '@');
    fails(() => absoluteName('www.other.test.', ZONE, 'body/name'), /body\/name/);
    fails(() => absoluteName('notexample.test.', ZONE, 'body/name'), /body\/name/);
    for (const bad of ['a..b', 'a;b', 'a b', '$x', 'a"b', 'a\nb', 'a*b', `${'a'.repeat(64)}`])
      fails(() => absoluteName(bad, ZONE, 'body/name'), /body\/name/);
  });
});

describe('record values per type', () => {
  const ok = (input: Record<string, unknown>) => presentValue(validateRecord({ name: 'x', ...input } as never, ZONE, 'body'));

  test('canonical presentation of every type', () => {
    assert.equal(ok({ type: 'A', address: '10.0.0.1' }), '10.0.0.1');
    assert.equal(ok({ type: 'AAAA', address: '2001:0DB8:0:0::1' }), '2001:db8::1');
    assert.equal(ok({ type: 'CNAME', target: 'Web.Example.Net' }), 'web.example.net.');
    assert.equal(ok({ type: 'MX', preference: 0, exchange: '@' }), `0 ${ZONE}.`);
    assert.equal(ok({ type: 'SRV', priority: 65535, weight: 0, port: 443, target: 'a.example.net.' }), '65535 0 443 a.example.net.');
    assert.equal(ok({ type: 'CAA', flags: 128, tag: 'ISSUE', value: 'ca.example; account=1' }), '128 issue "ca.example; account=1"');
    assert.equal(ok({ type: 'TXT', text: 'a'.repeat(300) }), `"${'a'.repeat(255)}" "${'a'.repeat(45)}"`);
    assert.equal(validateRecord({ name: 'x', type: 'A', address: '10.0.0.1' }, ZONE, 'body').ttl, 3600);
  });

  test('out-of-range and malformed values name their field', () => {
    const at = (input: Record<string, unknown>, field: string, status = 400) =>
      fails(
        () => validateRecord({ name: 'x', ...input } as never, ZONE, 'body/records/3'),
        new RegExp(`^body/records/3/${field}$`),
        status,
      );
    at({ type: 'A', address: '10.0.0.256' }, 'address');
    at({ type: 'A', address: '::1' }, 'address');
    at({ type: 'AAAA', address: '10.0.0.1' }, 'address');
    at({ type: 'MX', preference: 65536, exchange: 'mx.example' }, 'preference');
    at({ type: 'MX', preference: 1 }, 'exchange');
    at({ type: 'SRV', priority: -1, weight: 0, port: 1, target: 'a.example' }, 'priority');
    at({ type: 'SRV', priority: 0, weight: 0, port: 65536, target: 'a.example' }, 'port');
    at({ type: 'CAA', flags: 1, tag: 'issue', value: 'x' }, 'flags');
    at({ type: 'CAA', flags: 0, tag: 'is-sue', value: 'x' }, 'tag');
    at({ type: 'TXT', text: 'a\u0000b' }, 'text');
    at({ type: 'TXT', text: 'x'.repeat(4001) }, 'text');
    at({ type: 'A', address: '10.0.0.1', ttl: 59 }, 'ttl');
    at({ type: 'SOA' }, 'type');
    fails(() => validateRecord({ name: '@', type: 'CNAME', target: 'a.example' }, ZONE, 'body'), /body\/name/, 422);
    fails(() => validateRecord({ name: '@', type: 'NS', target: 'a.example' }, ZONE, 'body'), /body\/name/, 422);
  });

  test('a CNAME is alone at its name; one RRset has one TTL', () => {
    const spec = (input: Record<string, unknown>) => validateRecord({ name: 'www', ...input } as never, ZONE, 'x');
    const a = spec({ type: 'A', address: '10.0.0.1', ttl: 300 });
    fails(() => checkRRsetRules([a], [{ spec: spec({ type: 'CNAME', target: 'b.example' }), field: 'body' }]), /body\/type/, 409);
    fails(
      () => checkRRsetRules([spec({ type: 'CNAME', target: 'b.example' })], [{ spec: spec({ type: 'TXT', text: 'x' }), field: 'body' }]),
      /body\/type/,
      409,
    );
    fails(() => checkRRsetRules([a], [{ spec: spec({ type: 'A', address: '10.0.0.2', ttl: 600 }), field: 'body' }]), /body\/ttl/, 422);
    checkRRsetRules([a], [{ spec: spec({ type: 'A', address: '10.0.0.2', ttl: 300 }), field: 'body' }]);
  });
});

describe('what reaches the server', () => {
  const server: ZoneServer = {
    address: '192.0.2.1',
    port: 53,
    keyName: 'up-key',
    algorithm: 'hmac-sha256',
    name: 'lab',
    rndcConf: '/etc/bind/rndc.conf',
    zoneDir: '/var/lib/bind',
    nameserver: `ns1.${ZONE}`,
    primary: { name: 'dns1', address: '192.0.2.1', port: 22, user: 'root', hostKeySha256: `SHA256:${'A'.repeat(43)}` },
  };

  test('the rndc zone config and the zone file come from checked values only', () => {
    assert.equal(
      zoneConfig(server, ZONE),
      `{ type primary; file "/var/lib/bind/${ZONE}.zone"; allow-update { key "up-key"; }; allow-transfer { key "up-key"; }; };`,
    );
    assert.throws(() => zoneConfig({ ...server, keyName: 'k"; }; include "/etc/shadow' }, ZONE), /refusing key name/);
    assert.throws(() => zoneConfig(server, 'a";b.test'), /refusing zone/);
    assert.match(
      zoneFileText(server, ZONE, 7),
      new RegExp(`^ns1\\.${ZONE}\\. IN A 192\\.0\\.2\\.1$`, 'm'),
      'an in-zone NS gets its address',
    );
    assert.doesNotMatch(zoneFileText({ ...server, nameserver: 'ns.example.net' }, ZONE, 7), / IN A /);
  });

  test("a new zone's file takes the addresses kept for sites and groups, and nothing else", () => {
    const records = [
      { name: `www.${ZONE}`, type: 'A' as const, ttl: 300, address: '192.0.2.10' },
      { name: `*.p1.${ZONE}`, type: 'AAAA' as const, ttl: 300, address: '2001:db8::10' },
    ];
    const text = zoneFileText(server, ZONE, 7, records);
    assert.match(text, new RegExp(`^www\\.${ZONE}\\. 300 IN A 192\\.0\\.2\\.10$`, 'm'));
    assert.match(text, new RegExp(`^\\*\\.p1\\.${ZONE}\\. 300 IN AAAA 2001:db8::10$`, 'm'));
    assert.throws(() => zoneFileText(server, ZONE, 7, [{ name: `t.${ZONE}`, type: 'TXT', ttl: 300, text: 'x' }]), /only addresses/);
    assert.throws(
      () => zoneFileText(server, ZONE, 7, [{ name: `w.${ZONE}`, type: 'A', ttl: 300, address: '1.2.3.4\n@ IN NS evil.' }]),
      /only addresses/,
    );
    assert.throws(
      () => zoneFileText(server, ZONE, 7, [{ name: `w;x.${ZONE}`, type: 'A', ttl: 300, address: '1.2.3.4' }]),
      /refusing record name/,
    );
  });

  test('a CNAME add clears its name; other adds require no CNAME there', () => {
    const rec = (input: Record<string, unknown>) => validateRecord({ name: 'www', ttl: 300, ...input } as never, ZONE, 'x') as never;
    const update = updateOf([
      { op: 'add', record: rec({ type: 'A', address: '10.0.0.1' }) },
      { op: 'add', record: rec({ name: 'c', type: 'CNAME', target: 'a.example' }) },
    ]);
    assert.deepEqual(update.prerequisites, [{ require: 'rrsetDoesNotExist', name: `www.${ZONE}`, type: 'CNAME' }]);
    assert.deepEqual(
      update.changes.map((c) => c.op),
      ['add', 'deleteName', 'add'],
    );
  });

  test('verify ignores what the zone creation manages and replaces drifted RRsets whole', () => {
    const expected = [validateRecord({ name: 'www', type: 'A', address: '10.0.0.1', ttl: 300 }, ZONE, 'x')] as RecordSpec[];
    const served = [
      { name: ZONE, type: 'SOA', class: 'IN', ttl: 3600, data: {}, text: '' },
      { name: ZONE, type: 'NS', class: 'IN', ttl: 3600, data: `ns1.${ZONE}`, text: `ns1.${ZONE}.` },
      { name: `ns1.${ZONE}`, type: 'A', class: 'IN', ttl: 3600, data: '192.0.2.1', text: '192.0.2.1' },
      { name: `www.${ZONE}`, type: 'A', class: 'IN', ttl: 300, data: '10.0.0.9', text: '10.0.0.9' },
    ];
    const result = compareZone(ZONE, `ns1.${ZONE}`, served, expected as never);
    assert.deepEqual(result.missing, [{ name: `www.${ZONE}`, ttl: 300, type: 'A', value: '10.0.0.1' }]);
    assert.deepEqual(result.unexpected, [{ name: `www.${ZONE}`, ttl: 300, type: 'A', value: '10.0.0.9' }]);
    assert.deepEqual(
      result.changes.map((c) => c.op),
      ['deleteRRset', 'add'],
    );
  });
});
