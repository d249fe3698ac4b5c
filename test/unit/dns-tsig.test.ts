import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import { PermanentError } from '../../lib/errors.ts';
import { createStreamVerifier, findTsig, signMessage, verifyResponse } from '../../lib/dns/tsig.ts';
import type { TsigKey } from '../../lib/dns/tsig.ts';

// Test vectors from the ISC BIND 10 / Kea TSIG unit tests (src/lib/dns/tests/tsig_unittest.cc and
// testdata/tsig_verify*.spec), which were produced with BIND 9's dig/nsupdate. RFC 8945 has none.
const md5Key: TsigKey = { name: 'www.example.com', algorithm: 'hmac-md5', secret: Buffer.from('SFuWd/q99SzF8Yzd1QbB9g==', 'base64') };
const sha1Key: TsigKey = { name: 'www.example.com', algorithm: 'hmac-sha1', secret: Buffer.from('MA+QDhXbyqUak+qnMFyTyEirzng=', 'base64') };

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const wireName = (name: string) =>
  Buffer.concat([...name.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])), Buffer.from([0])]);

/** id, RD, question www.example.com/IN/A: the query of the vectors. */
function query(id: number, type = 1, flags = 0x0100): Buffer {
  const header = hex(`${id.toString(16).padStart(4, '0')} ${flags.toString(16).padStart(4, '0')} 0001 0000 0000 0000`);
  return Buffer.concat([header, wireName('www.example.com'), Buffer.from([0, type, 0, 1])]);
}

/** The vectors' response: QR AA RD, same question, www.example.com 86400 IN A 192.0.2.1 with a compressed owner. */
const response = Buffer.concat([
  hex('2d65 8500 0001 0001 0000 0000'),
  wireName('www.example.com'),
  hex('0001 0001'),
  hex('c00c 0001 0001 00015180 0004 c0000201'),
]);

function expectPermanent(code: string, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof PermanentError, `expected PermanentError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

describe('TSIG signing (published vectors)', () => {
  it('signs a query with hmac-md5 like dig -y does', () => {
    const { mac } = signMessage(query(0x2d65), md5Key, { timeSigned: 0x4da8877a });
    assert.equal(mac.toString('hex'), '227026ad297beee721ce6c6fff1e9ef3');
  });

  it('signs a query with hmac-sha1', () => {
    const { mac } = signMessage(query(0x0967), sha1Key, { timeSigned: 0x4dae7d5f });
    assert.equal(mac.toString('hex'), '415340c7daf824ed684ee586f7b5a67a2febc0d3');
  });

  it('digests the key name in canonical (lowercase) form', () => {
    const { mac } = signMessage(query(0x2d65), { ...md5Key, name: 'WWW.Example.COM' }, { timeSigned: 0x4da8877a });
    assert.equal(mac.toString('hex'), '227026ad297beee721ce6c6fff1e9ef3');
  });

  it('appends one TSIG record and bumps ARCOUNT, leaving the message before it untouched', () => {
    const message = query(0x2d65);
    const { signed, mac } = signMessage(message, md5Key, { timeSigned: 0x4da8877a, fudge: 300 });
    assert.deepEqual(signed.subarray(12, message.length), message.subarray(12));
    assert.equal(signed.readUInt16BE(10), 1);
    const tsigRecord = dnsPacket.decode(signed).additionals?.[0];
    assert.equal(tsigRecord?.type, 'TSIG');
    assert.equal(tsigRecord?.name, 'www.example.com');
    assert.equal(tsigRecord?.class, 'ANY');
    const tsig = findTsig(signed);
    assert.equal(tsig?.algorithm, 'hmac-md5.sig-alg.reg.int');
    assert.equal(tsig?.timeSigned, 0x4da8877a);
    assert.equal(tsig?.fudge, 300);
    assert.equal(tsig?.originalId, 0x2d65);
    assert.equal(tsig?.error, 0);
    assert.deepEqual(tsig?.mac, mac);
  });

  it('signs a response over the request MAC', () => {
    const request = signMessage(query(0x2d65), md5Key, { timeSigned: 0x4da8877a });
    const { mac } = signMessage(response, md5Key, { timeSigned: 0x4da8877a, priorMac: request.mac });
    assert.equal(mac.toString('hex'), '8fcda66a7cd1a3b9948eb1869d384a9f');
  });
});

describe('TSIG verification of replies', () => {
  const request = signMessage(query(0x2d65), md5Key, { timeSigned: 0x4da8877a });
  const signedResponse = signMessage(response, md5Key, { timeSigned: 0x4da8877a, priorMac: request.mac }).signed;

  it('accepts the vector response and returns its MAC', () => {
    const mac = verifyResponse(signedResponse, md5Key, request.mac, { now: 0x4da8877a + 299 });
    assert.equal(mac.toString('hex'), '8fcda66a7cd1a3b9948eb1869d384a9f');
  });

  it('rejects a reply whose bytes were changed', () => {
    const forged = Buffer.from(signedResponse);
    forged[forged.indexOf(hex('c0000201')) + 3] = 0x63; // 192.0.2.1 -> 192.0.2.99
    assert.throws(
      () => verifyResponse(forged, md5Key, request.mac, { now: 0x4da8877a }),
      expectPermanent('TSIG_VERIFY', /does not verify/),
    );
  });

  it('rejects a reply that answers another request (different request MAC)', () => {
    const other = signMessage(query(0x2d65), md5Key, { timeSigned: 0x4da8877b });
    assert.throws(() => verifyResponse(signedResponse, md5Key, other.mac, { now: 0x4da8877a }), expectPermanent('TSIG_VERIFY'));
  });

  it('rejects a reply signed outside the fudge window', () => {
    assert.throws(
      () => verifyResponse(signedResponse, md5Key, request.mac, { now: 0x4da8877a + 301 }),
      expectPermanent('TSIG_VERIFY', /more than 300s/),
    );
  });

  it('rejects an unsigned reply and one signed with another key', () => {
    assert.throws(() => verifyResponse(response, md5Key, request.mac), expectPermanent('TSIG_VERIFY', /no TSIG/));
    assert.throws(
      () => verifyResponse(signedResponse, { ...md5Key, name: 'other.key' }, request.mac, { now: 0x4da8877a }),
      expectPermanent('TSIG_VERIFY', /signed with key/),
    );
  });

  it('names the cause when the server reports BADSIG or BADKEY (empty MAC)', () => {
    const badsig = signMessage(response, md5Key, { error: 16 });
    const emptied = withEmptyMac(badsig.signed, badsig.mac);
    assert.throws(() => verifyResponse(emptied, md5Key, request.mac), expectPermanent('BADSIG', /wrong TSIG secret/));
    const badkey = signMessage(response, md5Key, { error: 17 });
    assert.throws(
      () => verifyResponse(withEmptyMac(badkey.signed, badkey.mac), md5Key, request.mac),
      expectPermanent('BADKEY', /unknown TSIG key/),
    );
  });

  it('verifies a BADTIME reply (vector) and reports the clock skew', () => {
    const badtimeQuery = signMessage(query(0x7fc4, 6, 0), md5Key, { timeSigned: 0x4da8b9d6 });
    const badtimeReply = Buffer.concat([hex('7fc4 8009 0001 0000 0000 0000'), wireName('www.example.com'), hex('0006 0001')]);
    const { signed, mac } = signMessage(badtimeReply, md5Key, {
      timeSigned: 0x4da8b9d6,
      priorMac: badtimeQuery.mac,
      error: 18,
      otherData: hex('00004da8be86'),
    });
    assert.equal(mac.toString('hex'), 'd4b043f6f44495ec8a01260e39159d76');
    assert.throws(
      () => verifyResponse(signed, md5Key, badtimeQuery.mac, { now: 0x4da8b9d6 }),
      expectPermanent('BADTIME', new RegExp(`server time ${0x4da8be86}`)),
    );
  });
});

describe('TSIG verification of multi-message replies (RFC 8945 §5.3.1)', () => {
  // AXFR vector: request, then SOA message, then NS message signed over prior MAC + message + timers only.
  const time = 0x4da8e951;
  const axfrQuery = Buffer.concat([hex('3410 0000 0001 0000 0000 0000'), wireName('example.com'), hex('00fc 0001')]);
  const soaRdata = Buffer.concat([
    Buffer.from('\x02ns'),
    hex('c00c'),
    Buffer.from('\x04root'),
    hex('c00c'),
    hex('77de0edf 00001c20 00000e10 00278d00 000004b0'),
  ]);
  const first = Buffer.concat([
    hex('3410 8400 0001 0001 0000 0000'),
    wireName('example.com'),
    hex('00fc 0001 c00c 0006 0001 00015180'),
    Buffer.from([0, soaRdata.length]),
    soaRdata,
  ]);
  const second = Buffer.concat([
    hex('3410 8400 0000 0001 0000 0000'),
    wireName('example.com'),
    hex('0002 0001 00015180 0005'),
    Buffer.from('\x02ns'),
    hex('c00c'),
  ]);

  const request = signMessage(axfrQuery, md5Key, { timeSigned: time });
  const signedFirst = signMessage(first, md5Key, { timeSigned: time, priorMac: request.mac });
  const signedSecond = signMessage(second, md5Key, { timeSigned: time, priorMac: signedFirst.mac, continuation: true });

  it('reproduces the vector MACs', () => {
    assert.equal(request.mac.toString('hex'), '35b2fd08268781634400c7c8a5533b13');
    assert.equal(signedFirst.mac.toString('hex'), 'bdd612cd2c7f9e0648bd6dc23713e83c');
    assert.equal(signedSecond.mac.toString('hex'), '102458f7f62ddd7d638d746034130968');
  });

  it('verifies each message in turn', () => {
    const verifier = createStreamVerifier(md5Key, request.mac, { now: () => time });
    verifier.verify(signedFirst.signed);
    verifier.verify(signedSecond.signed);
    verifier.finish();
  });

  it('rejects the messages out of order', () => {
    const verifier = createStreamVerifier(md5Key, request.mac, { now: () => time });
    assert.throws(() => verifier.verify(signedSecond.signed), expectPermanent('TSIG_VERIFY'));
  });

  it('accepts unsigned messages in between, digesting them into the next MAC', () => {
    const third = Buffer.from(second);
    const expected = createHmac('md5', md5Key.secret)
      .update(Buffer.from([0, 16]))
      .update(signedFirst.mac)
      .update(second)
      .update(third)
      .update(hex('00004da8e951 012c'))
      .digest();
    // signMessage knows nothing of the unsigned message, so put the MAC a server would send in its place.
    const signedThird = signMessage(third, md5Key, { timeSigned: time, priorMac: signedFirst.mac, continuation: true }).signed;
    expected.copy(signedThird, signedThird.indexOf(findTsig(signedThird)!.mac));

    const verifier = createStreamVerifier(md5Key, request.mac, { now: () => time });
    verifier.verify(signedFirst.signed);
    verifier.verify(second);
    assert.throws(() => verifier.finish(), expectPermanent('TSIG_VERIFY', /did not end with a signed message/));
    verifier.verify(signedThird);
    verifier.finish();
  });

  it('requires the first message to be signed', () => {
    const verifier = createStreamVerifier(md5Key, request.mac, { now: () => time });
    assert.throws(() => verifier.verify(first), expectPermanent('TSIG_VERIFY', /no TSIG/));
  });
});

/** A server reporting BADSIG/BADKEY cannot sign, so it sends the TSIG with MAC size 0. */
function withEmptyMac(signed: Buffer, mac: Buffer): Buffer {
  const at = signed.indexOf(mac);
  const emptied = Buffer.concat([signed.subarray(0, at - 2), Buffer.from([0, 0]), signed.subarray(at + mac.length)]);
  const rdlengthAt = findTsigRdlengthOffset(signed);
  emptied.writeUInt16BE(signed.readUInt16BE(rdlengthAt) - mac.length, rdlengthAt);
  return emptied;
}

function findTsigRdlengthOffset(signed: Buffer): number {
  const { start } = findTsig(signed)!;
  let at = start;
  while (signed[at] !== 0) at += signed[at] + 1;
  return at + 1 + 8;
}
