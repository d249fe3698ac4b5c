import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyInParts } from '../../handlers/dns/dns.zone.verify/apply-parts.ts';
import { checkIntegrity } from '../../lib/dns/integrity.ts';
import type { Change } from '../../lib/dns/update.ts';
import { validateRecord, type RecordInput, type RecordSpec } from '../../lib/dns/validate.ts';
import { InputError } from '../../lib/errors.ts';

const ZONE = 'z.test';
const rec = (input: RecordInput): RecordSpec => validateRecord(input, ZONE, 'body');
const mx = (exchange: string) => rec({ name: '@', type: 'MX', preference: 10, exchange });
const a = (name: string) => rec({ name, type: 'A', address: '192.0.2.1' });

function refusedWith(field: string, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof InputError, String(error));
    assert.equal(error.field, field);
    assert.equal(error.status, 400);
    assert.match(error.problem, pattern);
    return true;
  };
}

describe('checkIntegrity: what BIND check-integrity refuses', () => {
  test('an in-zone MX, SRV or NS target needs an address, in the zone or in the same request', () => {
    assert.throws(
      () => checkIntegrity(ZONE, { staying: [], adding: [{ spec: mx('mx.z.test'), field: 'body' }] }),
      refusedWith('body/exchange', /mx\.z\.test lies in the zone z\.test and has no A or AAAA/),
    );
    const srv = rec({ name: '_sip._tcp', type: 'SRV', priority: 1, weight: 1, port: 5060, target: 'sip.z.test' });
    assert.throws(
      () => checkIntegrity(ZONE, { staying: [], adding: [{ spec: srv, field: 'body/records/3' }] }),
      refusedWith('body/records/3/target', /SRV/),
    );
    const ns = rec({ name: 'sub', type: 'NS', target: 'ns.sub.z.test' });
    assert.throws(() => checkIntegrity(ZONE, { staying: [], adding: [{ spec: ns, field: 'body' }] }), refusedWith('body/target', /NS/));
    checkIntegrity(ZONE, { staying: [a('mx')], adding: [{ spec: mx('mx.z.test'), field: 'body' }] });
    checkIntegrity(ZONE, {
      staying: [],
      adding: [
        { spec: mx('mx.z.test'), field: 'body/records/0' },
        { spec: a('mx'), field: 'body/records/1' },
      ],
    });
    checkIntegrity(ZONE, {
      staying: [],
      adding: [
        { spec: ns, field: 'body' },
        { spec: a('ns.sub'), field: 'body' },
      ],
    });
  });

  test('targets outside the zone, under a delegation, or with an address outside the records pass', () => {
    checkIntegrity(ZONE, { staying: [], adding: [{ spec: mx('mx.example.net'), field: 'body' }] });
    checkIntegrity(ZONE, { staying: [], adding: [{ spec: mx('notz.test'), field: 'body' }] });
    const deleg = rec({ name: 'deleg', type: 'NS', target: 'ns.elsewhere.example' });
    checkIntegrity(ZONE, { staying: [deleg], adding: [{ spec: mx('mail.deleg.z.test'), field: 'body' }] });
    checkIntegrity(ZONE, { staying: [], adding: [{ spec: mx('ns1.z.test'), field: 'body' }], addressed: ['ns1.z.test'] });
    // An NS into another delegation needs no glue here; into its own, it does.
    checkIntegrity(ZONE, {
      staying: [deleg],
      adding: [{ spec: rec({ name: 'b', type: 'NS', target: 'ns.deleg.z.test' }), field: 'body' }],
    });
  });

  test('a target that is a CNAME is refused', () => {
    const cname = rec({ name: 'alias', type: 'CNAME', target: 'elsewhere.example' });
    assert.throws(
      () => checkIntegrity(ZONE, { staying: [cname], adding: [{ spec: mx('alias.z.test'), field: 'body' }] }),
      refusedWith('body/exchange', /alias\.z\.test is a CNAME/),
    );
  });

  test('removing the last address of a target is refused, naming the record that needs it', () => {
    const need = mx('mail.z.test');
    assert.throws(
      () => checkIntegrity(ZONE, { staying: [need], removing: [a('mail')] }),
      refusedWith('params/id', /last address of mail\.z\.test, which z\.test MX 10 mail\.z\.test points at/),
    );
    const aaaa = rec({ name: 'mail', type: 'AAAA', address: '2001:db8::1' });
    checkIntegrity(ZONE, { staying: [need, aaaa], removing: [a('mail')] });
    // A records change (delete + add) keeps the name addressed.
    checkIntegrity(ZONE, {
      staying: [need],
      removing: [a('mail')],
      adding: [{ spec: rec({ name: 'mail', type: 'A', address: '192.0.2.2' }), field: 'body' }],
    });
    // An older broken record elsewhere does not block an unrelated removal.
    checkIntegrity(ZONE, { staying: [mx('ghost.z.test')], removing: [a('www')] });
  });
});

describe('applyInParts: a refused repair applies what the server takes', () => {
  const add = (name: string, type: RecordSpec['type'], extra: Partial<RecordSpec>): Change => ({
    op: 'add',
    record: { name, type, ttl: 60, ...extra } as never,
  });
  const refusedError = () => Object.assign(new Error('REFUSED'), { code: 'REFUSED' });

  test('RRset by RRset in rounds, then record by record; what stays refused is returned', async () => {
    const good = add('z.test', 'MX', { preference: 20, exchange: 'mx.example.net' });
    const bad = add('z.test', 'MX', { preference: 10, exchange: 'ghost.z.test' });
    const later = add('z.test', 'SRV', { priority: 1, weight: 1, port: 1, target: 'sip.z.test' });
    const address = add('sip.z.test', 'A', { address: '192.0.2.5' });
    const served = new Set<Change>();
    const sent: number[] = [];
    const send = async (part: Change[]) => {
      sent.push(part.length);
      if (part.includes(bad)) throw refusedError();
      if (part.includes(later) && !served.has(address)) throw refusedError();
      for (const change of part) served.add(change);
    };
    const outcome = await applyInParts([good, bad, later, address], send);
    assert.deepEqual(outcome.refused, [bad]);
    assert.ok(served.has(good) && served.has(later) && served.has(address));
  });

  test('any other failure stops the repair', async () => {
    const fail = async () => {
      throw Object.assign(new Error('timeout'), { code: 'TIMEOUT' });
    };
    await assert.rejects(applyInParts([add('a.z.test', 'A', { address: '192.0.2.1' })], fail), /timeout/);
  });
});
