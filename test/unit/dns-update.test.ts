import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import { PermanentError } from '../../lib/errors.ts';
import { buildUpdate } from '../../lib/dns/update.ts';
import type { Change } from '../../lib/dns/update.ts';
import { presentRdata, splitCharacterStrings } from '../../lib/dns/records.ts';
import { readName, recordOffsets } from '../../lib/dns/wire.ts';
import type { ResourceRecord } from '../../lib/dns/records.ts';

const zone = 'example.test';

interface DecodedRecord {
  name: string;
  type: string;
  class: string;
  ttl: number;
  data: unknown;
}
function decode(message: Buffer) {
  const decoded = dnsPacket.decode(message) as ReturnType<typeof dnsPacket.decode> & { opcode: string };
  return {
    opcode: decoded.opcode,
    zone: decoded.questions ?? [],
    prerequisites: (decoded.answers ?? []) as unknown as DecodedRecord[],
    updates: (decoded.authorities ?? []) as unknown as DecodedRecord[],
    additionals: decoded.additionals ?? [],
  };
}

/**
 * Records straight from the wire: dns-packet's decoders ignore RDLENGTH for known types, so they
 * misread the empty-RDATA records that deletes and prerequisites use (e.g. AAAA with RDLENGTH 0).
 */
function rawRecords(message: Buffer) {
  return recordOffsets(message).map((offset) => {
    const { name, end } = readName(message, offset);
    return {
      name,
      type: message.readUInt16BE(end),
      class: message.readUInt16BE(end + 2),
      ttl: message.readUInt32BE(end + 4),
      rdata: message.subarray(end + 10, end + 10 + message.readUInt16BE(end + 8)),
    };
  });
}

function expectInvalid(code: string, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof PermanentError);
    assert.equal(error.code, code);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

const everyType: ResourceRecord[] = [
  { name: 'www.example.test', ttl: 60, type: 'A', address: '192.0.2.10' },
  { name: 'www.example.test', ttl: 60, type: 'AAAA', address: '2001:db8::10' },
  { name: 'alias.example.test', ttl: 120, type: 'CNAME', target: 'www.example.test' },
  { name: 'example.test', ttl: 300, type: 'MX', preference: 10, exchange: 'mail.example.test' },
  { name: 'example.test', ttl: 300, type: 'TXT', text: 'v=spf1 -all' },
  { name: '_sip._tcp.example.test', ttl: 60, type: 'SRV', priority: 10, weight: 5, port: 5060, target: 'sip.example.test' },
  { name: 'example.test', ttl: 300, type: 'CAA', flags: 0, tag: 'issue', value: 'letsencrypt.org' },
  { name: 'example.test', ttl: 300, type: 'NS', target: 'ns2.example.test' },
  { name: '10.2.0.192.in-addr.arpa', ttl: 60, type: 'PTR', target: 'www.example.test' },
];

describe('buildUpdate', () => {
  it('encodes an UPDATE header and the zone section', () => {
    const message = buildUpdate({ zone, id: 0x1234, changes: [{ op: 'add', record: everyType[0] }] });
    assert.equal(message.readUInt16BE(0), 0x1234);
    assert.equal(message.readUInt16BE(2), 5 << 11);
    const decoded = decode(message);
    assert.equal(decoded.opcode, 'UPDATE');
    assert.deepEqual(decoded.zone, [{ name: zone, type: 'SOA', class: 'IN' }]);
    assert.equal(decoded.prerequisites.length, 0);
    assert.equal(decoded.updates.length, 1);
    assert.equal(decoded.additionals.length, 0);
  });

  it('puts every change of a batch into one message, in order', () => {
    const decoded = decode(buildUpdate({ zone, changes: everyType.map((record): Change => ({ op: 'add', record })) }));
    assert.deepEqual(
      decoded.updates.map((r) => [r.name, r.type, r.class, r.ttl]),
      everyType.map((r) => [r.name, r.type, 'IN', r.ttl]),
    );
    assert.deepEqual(
      decoded.updates.map((r) => presentRdata(r.type, r.data)),
      [
        '192.0.2.10',
        '2001:db8::10',
        'www.example.test.',
        '10 mail.example.test.',
        '"v=spf1 -all"',
        '10 5 5060 sip.example.test.',
        '0 issue "letsencrypt.org"',
        'ns2.example.test.',
        'www.example.test.',
      ],
    );
  });

  it('splits TXT values into ≤255-byte character-strings that rejoin to the value', () => {
    const text = 'é'.repeat(200) + 'x'.repeat(201); // 601 bytes, a split inside a two-byte character included
    const decoded = decode(
      buildUpdate({ zone, changes: [{ op: 'add', record: { name: 'txt.example.test', ttl: 60, type: 'TXT', text } }] }),
    );
    const strings = decoded.updates[0].data as Buffer[];
    assert.deepEqual(
      strings.map((s) => s.length),
      [255, 255, 91],
    );
    assert.equal(Buffer.concat(strings).toString('utf8'), text);
    assert.deepEqual(
      splitCharacterStrings('x'.repeat(255)).map((s) => s.length),
      [255],
    );
    assert.deepEqual(
      splitCharacterStrings('').map((s) => s.length),
      [0],
    );
  });

  it('deletes one record with class NONE, TTL 0 and the record data', () => {
    const record = { name: 'www.example.test', type: 'A' as const, address: '192.0.2.10' };
    const message = buildUpdate({ zone, changes: [{ op: 'deleteRecord', record }] });
    const [update] = decode(message).updates;
    assert.equal(update.class, 'UNKNOWN_254');
    assert.equal(update.ttl, 0);
    assert.equal(update.data, '192.0.2.10');
    // The record is the last thing in the message: TYPE A, CLASS 254, TTL 0, RDLENGTH 4, 192.0.2.10.
    assert.deepEqual(message.subarray(-14), Buffer.from([0, 1, 0, 254, 0, 0, 0, 0, 0, 4, 192, 0, 2, 10]));
  });

  it('deletes an RRset (class ANY, the type, no data) and a whole name (class ANY, type ANY)', () => {
    const message = buildUpdate({
      zone,
      changes: [
        { op: 'deleteRRset', name: 'www.example.test', type: 'AAAA' },
        { op: 'deleteName', name: 'old.example.test' },
      ],
    });
    assert.deepEqual(
      rawRecords(message).map((r) => [r.name, r.type, r.class, r.ttl, r.rdata.length]),
      [
        ['www.example.test', 28, 255, 0, 0],
        ['old.example.test', 255, 255, 0, 0],
      ],
    );
  });

  it('encodes the four prerequisites of RFC 2136 §2.4', () => {
    const message = buildUpdate({
      zone,
      prerequisites: [
        { require: 'nameInUse', name: 'a.example.test' },
        { require: 'nameNotInUse', name: 'b.example.test' },
        { require: 'rrsetExists', name: 'c.example.test', type: 'MX' },
        { require: 'rrsetDoesNotExist', name: 'd.example.test', type: 'CNAME' },
      ],
      changes: [{ op: 'add', record: everyType[0] }],
    });
    assert.equal(message.readUInt16BE(6), 4);
    assert.deepEqual(
      rawRecords(message)
        .slice(0, 4)
        .map((r) => [r.name, r.type, r.class, r.ttl, r.rdata.length]),
      [
        ['a.example.test', 255, 255, 0, 0],
        ['b.example.test', 255, 254, 0, 0],
        ['c.example.test', 15, 255, 0, 0],
        ['d.example.test', 5, 254, 0, 0],
      ],
    );
  });

  it('accepts trailing dots and keeps names as given', () => {
    const [update] = decode(
      buildUpdate({ zone: 'example.test.', changes: [{ op: 'add', record: { ...everyType[0], name: 'WWW.example.test.' } }] }),
    ).updates;
    assert.equal(update.name, 'WWW.example.test');
  });

  it('rejects invalid names and record data before anything is sent', () => {
    const add = (record: ResourceRecord) => () => buildUpdate({ zone, changes: [{ op: 'add', record }] });
    assert.throws(add({ name: 'www.example.test', ttl: 60, type: 'A', address: '2001:db8::1' }), expectInvalid('INVALID_RECORD', /IPv4/));
    assert.throws(add({ name: 'www.example.test', ttl: 60, type: 'AAAA', address: '192.0.2.1' }), expectInvalid('INVALID_RECORD', /IPv6/));
    assert.throws(add({ name: `${'a'.repeat(64)}.example.test`, ttl: 60, type: 'A', address: '192.0.2.1' }), expectInvalid('INVALID_NAME'));
    assert.throws(
      add({ name: `${'abcdefghi.'.repeat(26)}example.test`, ttl: 60, type: 'A', address: '192.0.2.1' }),
      expectInvalid('INVALID_NAME', /255/),
    );
    assert.throws(add({ name: 'bad name.example.test', ttl: 60, type: 'A', address: '192.0.2.1' }), expectInvalid('INVALID_NAME'));
    assert.throws(add({ name: 'a..example.test', ttl: 60, type: 'A', address: '192.0.2.1' }), expectInvalid('INVALID_NAME'));
    assert.throws(add({ name: 'www.*.example.test', ttl: 60, type: 'A', address: '192.0.2.1' }), expectInvalid('INVALID_NAME'));
    assert.throws(add({ name: 'www.example.test', ttl: -1, type: 'A', address: '192.0.2.1' }), expectInvalid('INVALID_RECORD', /TTL/));
    assert.throws(
      add({ name: 'example.test', ttl: 60, type: 'MX', preference: 70000, exchange: 'mx.example.test' }),
      expectInvalid('INVALID_RECORD', /MX preference/),
    );
    assert.throws(
      add({ name: 'example.test', ttl: 60, type: 'CAA', flags: 0, tag: 'is sue', value: 'x' }),
      expectInvalid('INVALID_RECORD', /CAA tag/),
    );
    assert.throws(add({ name: 'example.test', ttl: 60, type: 'CNAME', target: 'not valid.example.test' }), expectInvalid('INVALID_NAME'));
    assert.throws(() => buildUpdate({ zone, changes: [] }), expectInvalid('INVALID_UPDATE'));
  });

  it('accepts wildcard and underscore labels', () => {
    const message = buildUpdate({
      zone,
      changes: [
        { op: 'add', record: { name: '*.apps.example.test', ttl: 60, type: 'A', address: '192.0.2.1' } },
        { op: 'add', record: { name: '_acme-challenge.example.test', ttl: 60, type: 'TXT', text: 'token' } },
      ],
    });
    assert.deepEqual(
      decode(message).updates.map((r) => r.name),
      ['*.apps.example.test', '_acme-challenge.example.test'],
    );
  });

  it('refuses a message larger than 65535 bytes', () => {
    const changes: Change[] = Array.from({ length: 3000 }, (_, i) => ({
      op: 'add',
      record: { name: `host-${i}.example.test`, ttl: 60, type: 'A', address: '192.0.2.1' },
    }));
    assert.throws(() => buildUpdate({ zone, changes }), expectInvalid('INVALID_UPDATE', /split it/));
  });
});
