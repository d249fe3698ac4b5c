/** What a mail host's state becomes on disk: postfix maps, dovecot's passwd-file, and which Maildirs go. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { staleLists, staleMaildirs } from '../../handlers/mail/mail.apply/handler.ts';
import { renderList, renderMaps } from '../../handlers/mail/maps.ts';
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
