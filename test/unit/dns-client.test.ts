import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PermanentError, RetryableError } from '../../lib/errors.ts';
import { sendUpdate } from '../../lib/dns/client.ts';
import { findTsig, signMessage } from '../../lib/dns/tsig.ts';
import type { TsigKey } from '../../lib/dns/tsig.ts';
import { buildUpdate } from '../../lib/dns/update.ts';
import type { Change } from '../../lib/dns/update.ts';
import { readName } from '../../lib/dns/wire.ts';
import { ScriptedDnsServer, freePort } from '../helpers/bind.ts';
import type { ScriptedHandler } from '../helpers/bind.ts';

const key: TsigKey = { name: 'up-key', algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 7) };
const small = () =>
  buildUpdate({
    zone: 'example.test',
    changes: [{ op: 'add', record: { name: 'www.example.test', ttl: 60, type: 'A', address: '192.0.2.1' } }],
  });
const large = () =>
  buildUpdate({
    zone: 'example.test',
    changes: Array.from(
      { length: 30 },
      (_, i): Change => ({ op: 'add', record: { name: `host-${i}.example.test`, ttl: 60, type: 'A', address: '192.0.2.1' } }),
    ),
  });

interface ReplyOptions {
  rcode?: number;
  truncated?: boolean;
  signWith?: TsigKey | null;
  id?: number;
}

/** What a server sends back to an UPDATE: its header and zone section, signed over the request MAC. */
function replyTo(request: Buffer, { rcode = 0, truncated = false, signWith = key, id }: ReplyOptions = {}): Buffer {
  const zoneEnd = readName(request, 12).end + 4;
  const reply = Buffer.from(request.subarray(0, zoneEnd));
  reply.writeUInt16BE(id ?? request.readUInt16BE(0), 0);
  reply.writeUInt16BE(0x8000 | (5 << 11) | (truncated ? 0x0200 : 0) | rcode, 2);
  reply.writeUInt16BE(0, 6);
  reply.writeUInt16BE(0, 8);
  reply.writeUInt16BE(0, 10);
  const requestTsig = findTsig(request);
  return signWith && requestTsig ? signMessage(reply, signWith, { priorMac: requestTsig.mac }).signed : reply;
}

function expectError(kind: typeof PermanentError | typeof RetryableError, code: string, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof kind, `expected ${kind.name}, got ${String(error)}`);
    assert.equal(error.code, code);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

describe('sendUpdate against a scripted server', () => {
  const dns = new ScriptedDnsServer();
  before(() => dns.start());
  after(() => dns.stop());

  const reset = (handler: ScriptedHandler = (request) => [replyTo(request)]) => dns.script(handler);
  const seen = () => dns.received.map((r) => r.transport);

  it('sends a small update over UDP and accepts the signed NOERROR', async () => {
    reset();
    assert.deepEqual(await sendUpdate(dns.server, small(), key), { transport: 'udp' });
    assert.deepEqual(seen(), ['udp']);
  });

  it('sends an update larger than 512 bytes over TCP', async () => {
    reset();
    const message = large();
    assert.ok(message.length > 512);
    assert.deepEqual(await sendUpdate(dns.server, message, key), { transport: 'tcp' });
    assert.deepEqual(seen(), ['tcp']);
  });

  it('retries over TCP when the UDP reply is truncated', async () => {
    reset((request, transport) => [replyTo(request, { truncated: transport === 'udp' })]);
    assert.deepEqual(await sendUpdate(dns.server, small(), key), { transport: 'tcp' });
    assert.deepEqual(seen(), ['udp', 'tcp']);
  });

  it('maps SERVFAIL to a RetryableError', async () => {
    reset((request) => [replyTo(request, { rcode: 2 })]);
    await assert.rejects(sendUpdate(dns.server, small(), key), expectError(RetryableError, 'SERVFAIL'));
  });

  it('maps refusals and failed prerequisites to PermanentErrors named by RCODE', async () => {
    const rcodes = { FORMERR: 1, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, YXDOMAIN: 6, YXRRSET: 7, NXRRSET: 8, NOTAUTH: 9, NOTZONE: 10 };
    for (const [name, rcode] of Object.entries(rcodes)) {
      reset((request) => [replyTo(request, { rcode })]);
      await assert.rejects(
        sendUpdate(dns.server, small(), key),
        expectError(PermanentError, name, new RegExp(`zone example.test failed: ${name}`)),
      );
    }
  });

  it('reports an unsigned error reply by its RCODE', async () => {
    reset((request) => [replyTo(request, { rcode: 5, signWith: null })]);
    await assert.rejects(sendUpdate(dns.server, small(), key), expectError(PermanentError, 'REFUSED', /did not sign its reply/));
  });

  it('says a signed REFUSED is about the change, not the key', async () => {
    reset((request) => [replyTo(request, { rcode: 5 })]);
    await assert.rejects(
      sendUpdate(dns.server, small(), key),
      (error: Error) =>
        expectError(
          PermanentError,
          'REFUSED',
          /accepted the key \(its reply is signed\) but refused the change: an integrity check/,
        )(error) && !/unsigned request|not allowed/.test(error.message),
    );
  });

  it('does not trust an unsigned NOERROR reply to a signed update', async () => {
    reset((request) => [replyTo(request, { signWith: null })]);
    await assert.rejects(sendUpdate(dns.server, small(), key), expectError(PermanentError, 'TSIG_VERIFY', /no TSIG/));
  });

  it('rejects a NOERROR reply signed with another secret', async () => {
    reset((request) => [replyTo(request, { signWith: { ...key, secret: Buffer.alloc(32, 8) } })]);
    await assert.rejects(sendUpdate(dns.server, small(), key), expectError(PermanentError, 'TSIG_VERIFY', /does not verify/));
  });

  it('ignores a reply with another message ID and takes the real one', async () => {
    reset((request) => [replyTo(request, { id: (request.readUInt16BE(0) + 1) & 0xffff, rcode: 5 }), replyTo(request)]);
    assert.deepEqual(await sendUpdate(dns.server, small(), key), { transport: 'udp' });
  });

  it('times out with a RetryableError when the server never answers', async () => {
    reset(() => []);
    const started = performance.now();
    await assert.rejects(sendUpdate(dns.server, small(), key, { timeoutMs: 300 }), expectError(RetryableError, 'TIMEOUT', /within 300 ms/));
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 290 && elapsed < 1000, `took ${elapsed} ms`);
  });

  it('gives a RetryableError when the TCP connection closes without a reply', async () => {
    reset(() => []);
    await assert.rejects(sendUpdate(dns.server, large(), key, { timeoutMs: 2000 }), expectError(RetryableError, 'CONNECTION_CLOSED'));
  });
});

describe('sendUpdate to a port where nothing listens', () => {
  it('times out over UDP within the timeout', async () => {
    const server = { address: '127.0.0.1', port: await freePort() };
    const started = performance.now();
    await assert.rejects(sendUpdate(server, small(), key, { timeoutMs: 250 }), expectError(RetryableError, 'TIMEOUT'));
    assert.ok(performance.now() - started < 1000);
  });

  it('fails over TCP with a retryable connection error', async () => {
    const server = { address: '127.0.0.1', port: await freePort() };
    await assert.rejects(sendUpdate(server, large(), key, { timeoutMs: 250 }), expectError(RetryableError, 'ECONNREFUSED'));
  });
});
