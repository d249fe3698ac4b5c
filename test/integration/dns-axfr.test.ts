import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PermanentError } from '../../lib/errors.ts';
import { axfr, sendUpdate } from '../../lib/dns/client.ts';
import { fqdn } from '../../lib/dns/records.ts';
import type { ResourceRecord } from '../../lib/dns/records.ts';
import { buildUpdate } from '../../lib/dns/update.ts';
import { labBind } from '../helpers/bind.ts';
import type { LabBind } from '../helpers/bind.ts';

function expectError(code: string, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof PermanentError, `expected PermanentError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

describe('AXFR with TSIG against BIND', () => {
  let bind: LabBind;
  const hosts = 1500;

  before(async () => {
    bind = await labBind();
    const records: ResourceRecord[] = Array.from({ length: hosts }, (_, i) => ({
      name: `host-${i}.example.test`,
      ttl: 300,
      type: 'A',
      address: `10.0.${i >> 8}.${i & 0xff}`,
    }));
    records.push(
      { name: 'host-1.example.test', ttl: 300, type: 'AAAA', address: '2001:db8::1' },
      { name: 'example.test', ttl: 300, type: 'MX', preference: 10, exchange: 'host-2.example.test' },
      { name: 'example.test', ttl: 300, type: 'TXT', text: `v=spf1 ${'include:_spf.example.test '.repeat(12)}-all` },
      { name: '_imaps._tcp.example.test', ttl: 300, type: 'SRV', priority: 0, weight: 1, port: 993, target: 'host-3.example.test' },
      { name: 'example.test', ttl: 300, type: 'CAA', flags: 128, tag: 'issue', value: 'ca.example.net; account=42' },
      { name: 'www.example.test', ttl: 300, type: 'CNAME', target: 'host-4.example.test' },
    );
    for (let i = 0; i < records.length; i += 100) {
      await sendUpdate(
        bind.server,
        buildUpdate({ zone: bind.zone, changes: records.slice(i, i + 100).map((record) => ({ op: 'add', record })) }),
        bind.key,
      );
    }
  });
  after(() => bind?.down());

  it('returns the zone as dig -y AXFR shows it, over several signed messages', async () => {
    const records = await axfr(bind.server, bind.zone, bind.key);
    const ours = records.map((r) => `${fqdn(r.name)} ${r.ttl} ${r.class} ${r.type} ${r.text}`);

    const keyArg = `${bind.key.algorithm}:${bind.key.name}:${bind.key.secret.toString('base64')}`;
    const output = await bind.dig(bind.zone, 'AXFR', ['+noshort', '+nocmd', '+stats', '-y', keyArg]);
    const messages = Number(/XFR size: \d+ records \(messages (\d+)/.exec(output.join('\n'))?.[1]);
    assert.ok(messages > 1, `the transfer spans several messages (dig saw ${messages})`);
    const digs = output
      .filter((line) => !line.startsWith(';'))
      .map((line) => /^(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(line)!)
      .filter((fields) => fields[4] !== 'TSIG')
      .map(([, name, ttl, klass, type, rdata]) => `${name} ${ttl} ${klass} ${type} ${rdata}`);
    assert.equal(digs.at(-1), digs[0], 'dig shows the closing SOA');

    assert.equal(records.length, hosts + 6 + 4); // + the additions above + SOA, NS, apex A, ns1 A
    assert.deepEqual(ours, digs.slice(0, -1));
    assert.equal(records[0].type, 'SOA');
    assert.ok(ours.includes('example.test. 300 IN CAA 128 issue "ca.example.net; account=42"'));
  });

  it('is refused without a key, and names the cause with a wrong secret', async () => {
    await assert.rejects(axfr(bind.server, bind.zone, null), expectError('REFUSED'));
    await assert.rejects(axfr(bind.server, bind.zone, { ...bind.key, secret: Buffer.alloc(32, 9) }), expectError('NOTAUTH', /BADSIG/));
  });
});
