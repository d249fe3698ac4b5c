import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PermanentError } from '../../lib/errors.ts';
import { sendUpdate } from '../../lib/dns/client.ts';
import type { ResourceRecord } from '../../lib/dns/records.ts';
import { buildUpdate } from '../../lib/dns/update.ts';
import type { Change, Prerequisite } from '../../lib/dns/update.ts';
import { labBind } from '../helpers/bind.ts';
import type { LabBind } from '../helpers/bind.ts';

/** `dig +short` TXT output (`"abc" "def"`) back to the value it was split from. */
function joinTxt(line: string): string {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((match) => match[1]).join('');
}

function expectRcode(code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof PermanentError, `expected PermanentError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  };
}

describe('RFC 2136 updates against BIND', () => {
  let bind: LabBind;
  const update = (changes: Change[], prerequisites: Prerequisite[] = [], zone = bind.zone) =>
    sendUpdate(bind.server, buildUpdate({ zone, prerequisites, changes }), bind.key);
  const add = (...records: ResourceRecord[]): Change[] => records.map((record) => ({ op: 'add', record }));
  const a = (name: string, address: string): ResourceRecord => ({ name, ttl: 60, type: 'A', address });

  before(async () => {
    bind = await labBind();
  });
  after(() => bind?.down());

  it('adds every record type in one message, and dig sees exactly those values', async () => {
    const longText = `v=DKIM1; k=rsa; p=${'A'.repeat(400)}`;
    const result = await update(
      add(
        a('www.example.test', '192.0.2.10'),
        { name: 'www.example.test', ttl: 60, type: 'AAAA', address: '2001:db8::10' },
        { name: 'alias.example.test', ttl: 60, type: 'CNAME', target: 'www.example.test' },
        { name: 'example.test', ttl: 60, type: 'MX', preference: 10, exchange: 'mail.example.test' },
        { name: 'example.test', ttl: 60, type: 'MX', preference: 20, exchange: 'backup.example.test' },
        { name: 'sel._domainkey.example.test', ttl: 60, type: 'TXT', text: longText },
        { name: '_sip._tcp.example.test', ttl: 60, type: 'SRV', priority: 10, weight: 5, port: 5060, target: 'sip.example.test' },
        { name: 'example.test', ttl: 60, type: 'CAA', flags: 0, tag: 'issue', value: 'letsencrypt.org' },
        { name: 'example.test', ttl: 60, type: 'NS', target: 'ns2.example.test' },
        // BIND refuses the whole update when an in-zone MX or NS target has no address (check-mx, NS sanity check).
        a('mail.example.test', '192.0.2.25'),
        a('backup.example.test', '192.0.2.26'),
        a('ns2.example.test', '192.0.2.53'),
        { name: '10.example.test', ttl: 60, type: 'PTR', target: 'www.example.test' },
      ),
    );
    assert.equal(result.transport, 'tcp'); // the 400-byte TXT makes it larger than 512 bytes

    assert.deepEqual(await bind.dig('www.example.test', 'A'), ['192.0.2.10']);
    assert.deepEqual(await bind.dig('www.example.test', 'AAAA'), ['2001:db8::10']);
    assert.deepEqual(await bind.dig('alias.example.test', 'CNAME'), ['www.example.test.']);
    assert.deepEqual((await bind.dig('example.test', 'MX')).sort(), ['10 mail.example.test.', '20 backup.example.test.']);
    const txt = await bind.dig('sel._domainkey.example.test', 'TXT');
    assert.equal(txt.length, 1);
    assert.equal(joinTxt(txt[0]).length, longText.length);
    assert.equal(joinTxt(txt[0]), longText);
    assert.equal(txt[0].split('" "').length, 2, 'split into two character-strings');
    assert.deepEqual(await bind.dig('_sip._tcp.example.test', 'SRV'), ['10 5 5060 sip.example.test.']);
    assert.deepEqual(await bind.dig('example.test', 'CAA'), ['0 issue "letsencrypt.org"']);
    assert.deepEqual((await bind.dig('example.test', 'NS')).sort(), ['ns1.example.test.', 'ns2.example.test.']);
    assert.deepEqual(await bind.dig('10.example.test', 'PTR'), ['www.example.test.']);
  });

  it('sends a small update over UDP', async () => {
    assert.deepEqual(await update(add(a('udp.example.test', '192.0.2.20'))), { transport: 'udp' });
    assert.deepEqual(await bind.dig('udp.example.test', 'A'), ['192.0.2.20']);
  });

  it('deletes one record and leaves the rest of its RRset', async () => {
    await update(add(a('multi.example.test', '192.0.2.1'), a('multi.example.test', '192.0.2.2'), a('multi.example.test', '192.0.2.3')));
    await update([{ op: 'deleteRecord', record: { name: 'multi.example.test', type: 'A', address: '192.0.2.2' } }]);
    assert.deepEqual((await bind.dig('multi.example.test', 'A')).sort(), ['192.0.2.1', '192.0.2.3']);
  });

  it('replaces an RRset atomically (delete RRset + add in one message)', async () => {
    await update(add(a('replace.example.test', '192.0.2.1'), a('replace.example.test', '192.0.2.2')));
    await update([{ op: 'deleteRRset', name: 'replace.example.test', type: 'A' }, ...add(a('replace.example.test', '192.0.2.9'))]);
    assert.deepEqual(await bind.dig('replace.example.test', 'A'), ['192.0.2.9']);
  });

  it('deletes an RRset, and every RRset at a name', async () => {
    await update([
      ...add(a('gone.example.test', '192.0.2.1'), { name: 'gone.example.test', ttl: 60, type: 'TXT', text: 'hello' }),
      ...add({ name: 'gone.example.test', ttl: 60, type: 'AAAA', address: '2001:db8::1' }),
    ]);
    await update([{ op: 'deleteRRset', name: 'gone.example.test', type: 'TXT' }]);
    assert.deepEqual(await bind.dig('gone.example.test', 'TXT'), []);
    assert.deepEqual(await bind.dig('gone.example.test', 'A'), ['192.0.2.1']);
    await update([{ op: 'deleteName', name: 'gone.example.test' }]);
    assert.deepEqual(await bind.dig('gone.example.test', 'A'), []);
    assert.deepEqual(await bind.dig('gone.example.test', 'AAAA'), []);
  });

  it('fails "name not in use" when it is, with YXDOMAIN, and applies nothing of that message', async () => {
    await update(add(a('taken.example.test', '192.0.2.1')));
    await assert.rejects(
      update(add(a('taken.example.test', '192.0.2.66'), a('other.example.test', '192.0.2.66')), [
        { require: 'nameNotInUse', name: 'taken.example.test' },
      ]),
      expectRcode('YXDOMAIN'),
    );
    assert.deepEqual(await bind.dig('taken.example.test', 'A'), ['192.0.2.1']);
    assert.deepEqual(await bind.dig('other.example.test', 'A'), []);
  });

  it('reports the other failed prerequisites by their RCODE', async () => {
    await update(add(a('present.example.test', '192.0.2.1')));
    await assert.rejects(
      update(add(a('x.example.test', '192.0.2.1')), [{ require: 'nameInUse', name: 'absent.example.test' }]),
      expectRcode('NXDOMAIN'),
    );
    await assert.rejects(
      update(add(a('x.example.test', '192.0.2.1')), [{ require: 'rrsetExists', name: 'present.example.test', type: 'MX' }]),
      expectRcode('NXRRSET'),
    );
    await assert.rejects(
      update(add(a('x.example.test', '192.0.2.1')), [{ require: 'rrsetDoesNotExist', name: 'present.example.test', type: 'A' }]),
      expectRcode('YXRRSET'),
    );
    await update(add(a('x.example.test', '192.0.2.1')), [
      { require: 'nameInUse', name: 'present.example.test' },
      { require: 'nameNotInUse', name: 'absent.example.test' },
      { require: 'rrsetExists', name: 'present.example.test', type: 'A' },
      { require: 'rrsetDoesNotExist', name: 'present.example.test', type: 'MX' },
    ]);
    assert.deepEqual(await bind.dig('x.example.test', 'A'), ['192.0.2.1']);
  });

  it('refuses a name outside the zone (NOTZONE) and a zone the server does not serve (NOTAUTH)', async () => {
    await assert.rejects(update(add(a('www.elsewhere.test', '192.0.2.1'))), expectRcode('NOTZONE'));
    await assert.rejects(update(add(a('www.elsewhere.test', '192.0.2.1')), [], 'elsewhere.test'), expectRcode('NOTAUTH'));
  });

  it('updates a zone added at runtime with rndc addzone (PTR in a reverse zone)', async () => {
    const zone = '2.0.192.in-addr.arpa';
    const file = join(bind.dir, 'zones', `${zone}.zone`);
    await writeFile(file, `$TTL 60\n@ IN SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 60\n  IN NS ns1.example.test.\n`);
    await bind.rndc(['addzone', zone, `{ type primary; file "${file}"; allow-update { key ${bind.key.name}; }; };`]);
    await update(add({ name: `10.${zone}`, ttl: 60, type: 'PTR', target: 'www.example.test' }), [], zone);
    assert.deepEqual(await bind.dig(`10.${zone}`, 'PTR'), ['www.example.test.']);
    await bind.rndc(['delzone', zone]);
  });
});
