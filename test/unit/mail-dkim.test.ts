/** DKIM on a mail host: opendkim's tables, which key files go, what the handler reports, and the records a domain needs. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dkimRecordName, dkimRecordText, mailDnsRecords } from '../../gateway/mail/views.ts';
import { DKIM_KEYS_PER_APPLY, parseDkimLines, staleDkimKeys, wantedFiles } from '../../handlers/mail/mail.apply/handler.ts';
import { renderDkim } from '../../handlers/mail/maps.ts';
import { mailApply } from '../../queues/mail/ops.ts';
import { validator } from '../../queues/validate.ts';

const D = '11111111-1111-4111-8111-111111111111';
const E = '22222222-2222-4222-8222-222222222222';
const GONE = '44444444-4444-4444-8444-444444444444';
const KEY = `MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA${'x'.repeat(300)}IDAQAB`;
const layout = {
  hostname: 'mx.example.net',
  vmailRoot: '/var/vmail',
  vmailUid: 5000,
  tlsDir: '/etc/up/tls',
  ports: { smtp: 25, submission: 587, smtps: 465, imap: 143, imaps: 993 },
};
const state = {
  domains: [
    { id: E, name: 'second.example', dkimKnown: true },
    { id: D, name: 'example.net' },
  ],
  boxes: [],
  aliases: [],
  lists: [],
};

test("opendkim's tables: each domain's key named by its id, at a path made of the id, selector up1", () => {
  const tables = renderDkim({ state });
  assert.equal(
    tables.keyTable,
    `${D} example.net:up1:/etc/dkimkeys/up/${D}.private\n${E} second.example:up1:/etc/dkimkeys/up/${E}.private\n`,
  );
  assert.equal(tables.signingTable, `example.net ${D}\nsecond.example ${E}\n`);
  assert.deepEqual(renderDkim({ state: { ...state, domains: [] } }), { keyTable: '', signingTable: '' });
});

test('opendkim signs for the SASL login only, trusts no address, and is what submission and smtps use', () => {
  const files = new Map(wantedFiles({ layout, state }).map((f) => [f.path, f]));
  const conf = files.get('/etc/opendkim.conf')!.content;
  assert.match(conf, /^Mode s$/m);
  assert.match(conf, /^SenderMacro \{auth_authen\}$/m);
  assert.match(conf, /^InternalHosts file:\/etc\/opendkim\/internal-hosts$/m);
  assert.match(conf, /^Socket local:\/var\/spool\/postfix\/opendkim\/opendkim\.sock$/m);
  assert.equal(files.get('/etc/opendkim/internal-hosts')!.content, '');
  const master = files.get('/etc/postfix/master.cf')!.content;
  assert.equal(master.match(/-o smtpd_milters=unix:opendkim\/opendkim\.sock/g)?.length, 2);
  // Port 25 takes no milter: nothing arriving from outside is signed.
  assert.doesNotMatch(master.split('\n587 ')[0], /milter/);
  assert.doesNotMatch(files.get('/etc/postfix/main.cf')!.content, /^smtpd_milters/m);
});

test("opendkim's tables name only domains whose key is on the host (the others wait for the next apply)", () => {
  const files = new Map(wantedFiles({ layout, state }, new Set([E])).map((f) => [f.path, f.content]));
  assert.equal(files.get('/etc/opendkim/key.table'), `${E} second.example:up1:/etc/dkimkeys/up/${E}.private\n`);
  assert.equal(files.get('/etc/opendkim/signing.table'), `second.example ${E}\n`);
  // postfix still serves every domain.
  assert.equal(files.get('/etc/postfix/up/domains'), 'example.net OK\nsecond.example OK\n');
  assert.ok(DKIM_KEYS_PER_APPLY >= 10 && DKIM_KEYS_PER_APPLY * 0.2 < 60, 'one apply makes its keys well within its timeout');
});

test('only the key files of removed domains are swept, nothing else in the keys directory', () => {
  const files = [`${D}.private`, `${D}.public`, `${GONE}.private`, `${GONE}.public`, `${GONE}.private.up-new`, 'README', '../x.private'];
  assert.deepEqual(staleDkimKeys({ state }, files), [`${GONE}.private`, `${GONE}.public`]);
});

test("the handler's report: well-formed public keys of known ids only", () => {
  const out = [`dkim ${D} ${KEY}`, `dkim ${E} not a key`, `dkim ../etc ${KEY}`, `dkim ${E} ${KEY}; rm -rf /`, 'started opendkim'].join(
    '\n',
  );
  assert.deepEqual(parseDkimLines(out), [{ domainId: D, selector: 'up1', publicKey: KEY }]);
});

test("hostile domain names never pass mail.apply's payload, so never reach opendkim's tables", () => {
  const check = validator(mailApply.payload);
  const payload = (name: string) => ({
    host: { name: 'mail1', address: '192.0.2.1', port: 22, user: 'root', hostKeySha256: `SHA256:${'A'.repeat(43)}` },
    layout,
    generation: 1,
    state: { ...state, domains: [{ id: D, name }] },
  });
  assert.ok(check.check(payload('example.net')), check.errors(payload('example.net')).join('; '));
  for (const name of [
    'x.net\nevil.net',
    'a b.net',
    '*.example.net',
    '%',
    'example.net:up1:/etc/shadow',
    'Example.net',
    '../x.net',
    'x.net#',
  ])
    assert.equal(check.check(payload(name)), false, JSON.stringify(name));
});

test('the DKIM record is published once the key is known', () => {
  assert.deepEqual(
    mailDnsRecords('example.net', 'mx.example.net').map((r) => r.name),
    ['example.net', 'example.net', '_dmarc.example.net'],
  );
  const records = mailDnsRecords('example.net', 'mx.example.net', KEY);
  assert.deepEqual(records[3], { name: dkimRecordName('example.net'), type: 'TXT', text: dkimRecordText(KEY) });
  assert.equal(records[3].name, 'up1._domainkey.example.net');
  assert.equal(records[3].text, `v=DKIM1; k=rsa; p=${KEY}`);
});
