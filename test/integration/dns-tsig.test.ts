import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { PermanentError } from '../../lib/errors.ts';
import { sendUpdate } from '../../lib/dns/client.ts';
import { exchangeUdp } from '../../lib/dns/transport.ts';
import { findTsig, signMessage, verifyResponse } from '../../lib/dns/tsig.ts';
import type { TsigKey } from '../../lib/dns/tsig.ts';
import { buildUpdate } from '../../lib/dns/update.ts';
import type { Change, Prerequisite } from '../../lib/dns/update.ts';
import { readName, recordOffsets } from '../../lib/dns/wire.ts';
import { ScriptedDnsServer, labBind } from '../helpers/bind.ts';
import type { LabBind } from '../helpers/bind.ts';

const run = promisify(execFile);

function runWithInput(command: string, args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const addA = (name: string, address: string): Buffer =>
  buildUpdate({ zone: 'example.test', changes: [{ op: 'add', record: { name, ttl: 60, type: 'A', address } }] });

function expectError(code: string, pattern?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof PermanentError, `expected PermanentError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

describe('TSIG against BIND: our signatures accepted, its signatures verified', () => {
  let bind: LabBind;
  before(async () => {
    bind = await labBind();
  });
  after(() => bind?.down());

  it('named accepts an update signed by our code, and its signed reply verifies', async () => {
    const { signed, mac } = signMessage(addA('signed.example.test', '192.0.2.1'), bind.key);
    const reply = await exchangeUdp(bind.server, signed, 2000);
    assert.equal(reply.readUInt16BE(2) & 0xf, 0, 'NOERROR');
    assert.equal(findTsig(reply)?.algorithm, 'hmac-sha256');
    assert.equal(verifyResponse(reply, bind.key, mac).length, 32);
    assert.deepEqual(await bind.dig('signed.example.test', 'A'), ['192.0.2.1']);
  });

  it('a wrong secret fails with NOTAUTH and names the cause (BADSIG)', async () => {
    const wrong: TsigKey = { ...bind.key, secret: Buffer.alloc(32, 1) };
    await assert.rejects(
      sendUpdate(bind.server, addA('wrong.example.test', '192.0.2.1'), wrong),
      expectError('NOTAUTH', /NOTAUTH, server rejected our TSIG \(BADSIG\): wrong TSIG secret/),
    );
    assert.deepEqual(await bind.dig('wrong.example.test', 'A'), []);
  });

  it('a key the server does not know fails with NOTAUTH (BADKEY)', async () => {
    const unknown: TsigKey = { ...bind.key, name: 'stranger-key' };
    await assert.rejects(
      sendUpdate(bind.server, addA('stranger.example.test', '192.0.2.1'), unknown),
      expectError('NOTAUTH', /NOTAUTH, server rejected our TSIG \(BADKEY\): unknown TSIG key/),
    );
  });

  it('an unsigned update is REFUSED', async () => {
    await assert.rejects(sendUpdate(bind.server, addA('unsigned.example.test', '192.0.2.1'), null), expectError('REFUSED'));
    assert.deepEqual(await bind.dig('unsigned.example.test', 'A'), []);
  });

  it('a request signed an hour ago draws a signed BADTIME reply that names the skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    const { signed, mac } = signMessage(addA('late.example.test', '192.0.2.1'), bind.key, { timeSigned: now - 3600 });
    const reply = await exchangeUdp(bind.server, signed, 2000);
    assert.equal(reply.readUInt16BE(2) & 0xf, 9, 'NOTAUTH');
    assert.throws(() => verifyResponse(reply, bind.key, mac), expectError('BADTIME', /clock skew/));
  });
});

describe("BIND's own tools agree with our TSIG and UPDATE encoding", () => {
  const key: TsigKey = { name: 'up-key', algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 0x5a) };
  const keyArg = `hmac-sha256:up-key:${key.secret.toString('base64')}`;
  const dns = new ScriptedDnsServer();
  before(() => dns.start());
  after(() => dns.stop());

  /** The request without its TSIG; its MAC recomputed by our code must equal the one BIND's tool sent. */
  function checkClientSignature(request: Buffer): { body: Buffer; mac: Buffer } {
    const tsig = findTsig(request);
    assert.ok(tsig, 'request is signed');
    const body = Buffer.from(request.subarray(0, tsig.start));
    body.writeUInt16BE(body.readUInt16BE(10) - 1, 10);
    const ours = signMessage(body, key, { timeSigned: tsig.timeSigned, fudge: tsig.fudge, originalId: tsig.originalId });
    assert.equal(ours.mac.toString('hex'), tsig.mac.toString('hex'));
    return { body, mac: tsig.mac };
  }

  /** A reply with the request's header and first section only, signed by us over the request MAC. */
  function signedReply(request: Buffer, signWith: TsigKey, answer?: Buffer): Buffer {
    const { body, mac } = checkClientSignature(request);
    const sectionEnd = readName(body, 12).end + 4;
    const reply = Buffer.concat([body.subarray(0, sectionEnd), answer ?? Buffer.alloc(0)]);
    reply.writeUInt16BE((reply.readUInt16BE(2) & 0x7800) | 0x8400, 2); // QR, AA, the request's opcode
    reply.writeUInt16BE(answer ? 1 : 0, 6);
    reply.writeUInt16BE(0, 8);
    reply.writeUInt16BE(0, 10);
    return signMessage(reply, signWith, { priorMac: mac }).signed;
  }

  const digArgs = ['-y', keyArg, '+tries=1', '+time=2', '+noedns'];
  const answerA = Buffer.from('c00c000100010000003c0004c0000207', 'hex'); // <question name> 60 IN A 192.0.2.7

  it('dig signs a query exactly as we do, and accepts our signed reply', async () => {
    dns.script((request) => [signedReply(request, key, answerA)]);
    const { stdout } = await run('dig', [...digArgs, '-p', String(dns.server.port), '@127.0.0.1', 'www.example.test', 'A']);
    assert.equal(dns.received.length, 1);
    assert.match(stdout, /www\.example\.test\.\s+60\s+IN\s+A\s+192\.0\.2\.7/);
    assert.doesNotMatch(stdout, /could not be validated|Couldn't verify/i);
  });

  it('dig rejects our reply when we sign it with another secret (the check above is real)', async () => {
    dns.script((request) => [signedReply(request, { ...key, secret: Buffer.alloc(32, 1) }, answerA)]);
    const { stdout } = await run('dig', [...digArgs, '-p', String(dns.server.port), '@127.0.0.1', 'www.example.test', 'A']);
    assert.match(stdout, /could not be validated|Couldn't verify/i);
  });

  const longText = 'k'.repeat(300);
  const nsupdateScript = (port: number) =>
    [
      `server 127.0.0.1 ${port}`,
      'zone example.test',
      'prereq yxdomain present.example.test',
      'prereq nxdomain absent.example.test',
      'prereq yxrrset present.example.test A',
      'prereq nxrrset present.example.test MX',
      'update add www.example.test 60 A 192.0.2.10',
      'update add www.example.test 60 AAAA 2001:db8::10',
      `update add txt.example.test 60 TXT "${longText.slice(0, 255)}" "${longText.slice(255)}"`,
      'update add _sip._tcp.example.test 60 SRV 10 5 5060 sip.example.test.',
      'update add example.test 60 CAA 0 issue "letsencrypt.org"',
      'update delete multi.example.test A 192.0.2.2',
      'update delete gone.example.test TXT',
      'update delete old.example.test',
      'send',
      '',
    ].join('\n');
  const prerequisites: Prerequisite[] = [
    { require: 'nameInUse', name: 'present.example.test' },
    { require: 'nameNotInUse', name: 'absent.example.test' },
    { require: 'rrsetExists', name: 'present.example.test', type: 'A' },
    { require: 'rrsetDoesNotExist', name: 'present.example.test', type: 'MX' },
  ];
  const changes: Change[] = [
    { op: 'add', record: { name: 'www.example.test', ttl: 60, type: 'A', address: '192.0.2.10' } },
    { op: 'add', record: { name: 'www.example.test', ttl: 60, type: 'AAAA', address: '2001:db8::10' } },
    { op: 'add', record: { name: 'txt.example.test', ttl: 60, type: 'TXT', text: longText } },
    {
      op: 'add',
      record: { name: '_sip._tcp.example.test', ttl: 60, type: 'SRV', priority: 10, weight: 5, port: 5060, target: 'sip.example.test' },
    },
    { op: 'add', record: { name: 'example.test', ttl: 60, type: 'CAA', flags: 0, tag: 'issue', value: 'letsencrypt.org' } },
    { op: 'deleteRecord', record: { name: 'multi.example.test', type: 'A', address: '192.0.2.2' } },
    { op: 'deleteRRset', name: 'gone.example.test', type: 'TXT' },
    { op: 'deleteName', name: 'old.example.test' },
  ];

  /** Every record (prerequisites, then updates) as comparable values; owner names decompressed. */
  function records(message: Buffer) {
    return recordOffsets(message).map((offset) => {
      const { name, end } = readName(message, offset);
      const rdata = message.subarray(end + 10, end + 10 + message.readUInt16BE(end + 8));
      return [name, message.readUInt16BE(end), message.readUInt16BE(end + 2), message.readUInt32BE(end + 4), rdata.toString('hex')];
    });
  }

  it('nsupdate builds the same UPDATE as buildUpdate (class NONE deletes, prerequisites, split TXT) and accepts our signed reply', async () => {
    dns.script((request) => [signedReply(request, key)]);
    const { code, stdout, stderr } = await runWithInput('nsupdate', ['-y', keyArg], nsupdateScript(dns.server.port));
    assert.equal(dns.received.length, 1, `nsupdate sent one message (${stderr}${stdout})`);
    const { body } = checkClientSignature(dns.received[0].request);
    const ours = buildUpdate({ zone: 'example.test', prerequisites, changes });
    assert.equal(body.readUInt16BE(2), ours.readUInt16BE(2), 'flags / opcode');
    assert.deepEqual(body.subarray(4, 12), ours.subarray(4, 12), 'section counts');
    assert.deepEqual(records(body), records(ours));
    assert.deepEqual({ code, stderr }, { code: 0, stderr: '' }, 'nsupdate verified our signed reply');
  });

  it('nsupdate rejects our reply when we sign it with another secret (the check above is real)', async () => {
    dns.script((request) => [signedReply(request, { ...key, secret: Buffer.alloc(32, 1) })]);
    const result = await runWithInput('nsupdate', ['-y', keyArg], nsupdateScript(dns.server.port));
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /tsig|signature/i);
  });
});
