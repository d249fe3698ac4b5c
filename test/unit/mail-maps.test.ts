/** What a mail host's state becomes on disk: postfix maps, dovecot's passwd-file, and which Maildirs go. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { staleLists, staleMaildirs, wantedFiles } from '../../handlers/mail/mail.apply/handler.ts';
import { renderList, renderMaps } from '../../handlers/mail/maps.ts';
import { ensureProbeMailbox, PROBE_SECRET, probeLogin } from '../../handlers/mail/probe-mailbox.ts';
import { MAIL_ADDRESS, MAIL_ALIAS_SOURCE, MAIL_DOMAIN } from '../../lib/validate/mail.ts';

const D = '11111111-1111-4111-8111-111111111111';
const A = '22222222-2222-4222-8222-222222222222';
const B = '33333333-3333-4333-8333-333333333333';
const L = '55555555-5555-4555-8555-555555555555';
const HASH = `$6$salt$${'a'.repeat(86)}`;
const layout = {
  hostname: 'mx.example.net',
  vmailRoot: '/var/vmail',
  vmailUid: 5000,
  tlsDir: '/etc/up/tls',
  ports: { smtp: 25, submission: 587, smtps: 465, imap: 143, imaps: 993 },
};
const state = {
  domains: [{ id: D, name: 'example.net' }],
  boxes: [
    { id: A, domainId: D, address: 'alice@example.net', hash: HASH, quotaMb: 100, enabled: true },
    { id: B, domainId: D, address: 'off@example.net', hash: HASH, quotaMb: 5, enabled: false },
  ],
  aliases: [
    { source: '@example.net', targets: ['alice@example.net'] },
    { source: 'team@example.net', targets: ['alice@example.net', 'bob@elsewhere.org'] },
  ],
  lists: [] as {
    id: string;
    address: string;
    policy: 'members-only' | 'moderated' | 'announce-only';
    moderators: string[];
    members: string[];
  }[],
};
const list = {
  id: L,
  address: 'news@example.net',
  policy: 'announce-only' as const,
  moderators: ['alice@example.net'],
  members: ['zed@elsewhere.org', 'alice@example.net'],
};

test('maps: enabled mailboxes only, each mapped to itself ahead of the catch-all; Maildirs named by ids', () => {
  const maps = renderMaps({ layout, state });
  assert.equal(maps.domains, 'example.net OK\n');
  assert.equal(maps.mailboxes, 'alice@example.net OK\n');
  assert.equal(
    maps.aliases,
    '@example.net alice@example.net\nalice@example.net alice@example.net\nteam@example.net alice@example.net, bob@elsewhere.org\n',
  );
  assert.equal(maps.users, `alice@example.net:{SHA512-CRYPT}${HASH}::::/var/vmail/${D}/${A}::userdb_quota_rule=*:storage=100M\n`);
});

test('only the directories of removed mailboxes and domains are swept, nothing else under the vmail root', () => {
  const gone = '44444444-4444-4444-8444-444444444444';
  const dirs = [D, `${D}/${A}`, `${D}/${B}`, `${D}/${gone}`, gone, `${gone}/${A}`, 'lost+found', `${D}/Maildir`, '../etc'];
  assert.deepEqual(staleMaildirs({ state }, dirs), [`${D}/${gone}`, gone]);
});

test('hostile names match no mail pattern', () => {
  const address = new RegExp(MAIL_ADDRESS);
  const source = new RegExp(MAIL_ALIAS_SOURCE);
  const domain = new RegExp(MAIL_DOMAIN);
  for (const bad of [
    '|/bin/sh',
    ':include:/etc/passwd',
    '/var/vmail/x',
    'a\r\nb@example.net',
    'a b@example.net',
    'a@example.net, b@example.net',
    '"a"@example.net',
    'a..b@example.net',
    'A@example.net',
    'a@example.net\n',
  ])
    assert.ok(!address.test(bad) && !source.test(bad), JSON.stringify(bad));
  assert.ok(source.test('@example.net') && !address.test('@example.net'));
  for (const bad of ['a/b.net', 'x', '-x.net', 'x.net\n', 'x..net']) assert.ok(!domain.test(bad), JSON.stringify(bad));
});

test('a list: its address is a valid recipient, routed to mlmmj by id; its spool is named by id; its policy is switch files', () => {
  const maps = renderMaps({ layout, state: { ...state, lists: [list] } });
  assert.equal(maps.transport, `news@example.net mlmmj:${L}\n`);
  assert.match(maps.aliases, /^news@example\.net news@example\.net$/m);
  const { files, flags } = renderList(list);
  const content = Object.fromEntries(files.map((f) => [f.path, f.content]));
  assert.equal(content[`/var/spool/mlmmj/${L}/control/listaddress`], 'news@example.net\n');
  assert.equal(content[`/var/spool/mlmmj/${L}/control/owner`], 'alice@example.net\n');
  assert.equal(content[`/var/spool/mlmmj/${L}/subscribers.d/up`], 'alice@example.net\nzed@elsewhere.org\n');
  assert.deepEqual(
    flags.filter((f) => f.on).map((f) => f.path),
    [`/var/spool/mlmmj/${L}/control/modonlypost`],
  );
  assert.ok(files.every((f) => f.path.startsWith(`/var/spool/mlmmj/${L}/`)));
  assert.equal(renderMaps({ layout, state }).transport, '');
});

test('only the spools of removed lists are swept', () => {
  const gone = '66666666-6666-4666-8666-666666666666';
  assert.deepEqual(staleLists({ state: { ...state, lists: [list] } }, [L, gone, 'lost+found', '../etc', `${gone}x`]), [gone]);
});

test("a full mailbox is refused at RCPT: postfix asks dovecot's quota-status after the recipient is known, and takes the mail when it cannot ask", () => {
  const files = new Map(wantedFiles({ layout, state }).map((f) => [f.path, f.content]));
  const main = files.get('/etc/postfix/main.cf')!;
  assert.match(main, /^smtpd_recipient_restrictions = .*reject_unlisted_recipient check_policy_service unix:private\/quota-status$/m);
  assert.match(main, /^smtpd_policy_service_default_action = DUNNO$/m);
  const dovecot = files.get('/etc/dovecot/dovecot.conf')!;
  assert.match(
    dovecot,
    /service quota-status \{\n {2}executable = quota-status -p postfix\n {2}unix_listener \/var\/spool\/postfix\/private\/quota-status \{/,
  );
  assert.match(dovecot, /quota_status_overquota = "552 5\.2\.2 Mailbox is full"/);
});

test("the probe mailbox: its own passwd-file after the tenants' one; its password read on the host, never an argument", () => {
  const dovecot = new Map(wantedFiles({ layout, state }).map((f) => [f.path, f.content])).get('/etc/dovecot/dovecot.conf')!;
  const passdbs = [...dovecot.matchAll(/passdb \{[^}]*args = ([^\n]*)/g)].map((m) => m[1]);
  assert.deepEqual(passdbs, ['scheme=SHA512-CRYPT username_format=%Lu /etc/dovecot/up-users', 'scheme=SHA512-CRYPT /etc/dovecot/up-probe']);
  const login = probeLogin(993).text;
  assert.match(
    login,
    /printf 'a LOGIN %s %s\\r\\nb LOGOUT\\r\\n' up-probe "\$\(cat \/etc\/up\/mail-probe\/secret\)"; \} \| timeout 10 openssl s_client/,
  );
  // Made with umask 077 under a 0700 directory; hashed from stdin, never from an argument.
  const made = ensureProbeMailbox('/var/vmail')
    .map((c) => c.text)
    .join('\n');
  assert.match(made, /install -d -m 0700 \/etc\/up\/mail-probe/);
  assert.match(made, /umask 077 && openssl rand -hex 24/);
  assert.equal(made.match(/openssl passwd -6 (-salt "\$salt" )?-stdin < \/etc\/up\/mail-probe\/secret/g)?.length, 2);
  assert.ok(PROBE_SECRET.startsWith('/etc/up/'));
});
