/**
 * What a mail host holds back, on real postfix, dovecot and mlmmj in a lab host: a moderated
 * list's posts wait in mlmmj's moderation queue until a moderator approves them; an announce-only
 * list carries its moderators' posts alone; a full mailbox is refused with 552 while the sender is
 * still connected; and the health check logs in over IMAPS as the host's probe mailbox, whose
 * password never leaves the host, and reports it when that login fails until the repair mends it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import healthCheckHandler from '../../handlers/mail/health.check.mail-host/handler.ts';
import healthRepairHandler from '../../handlers/mail/health.repair.mail-host/handler.ts';
import { imap } from '../helpers/mail.ts';
import { startMailLab, type MailLab } from '../helpers/mail-lab.ts';
import type { Json } from '../helpers/stack-api.ts';
import { eventually } from '../helpers/eventually.ts';

const DOMAIN = 'lists-mq.test';
const at = (local: string) => `${local}@${DOMAIN}`;
const PASSWORD = `mq-${randomUUID()}`;
const BOXES = ['mod', 'm1', 'm2', 'tiny'];

describe('lists, quotas and the probe mailbox on a real mail host', { timeout: 300_000 }, () => {
  let mail: MailLab;
  let work: string;
  const tenant = () => mail.api('mqalice');
  const applied = (response: { status: number; body: Json }) => mail.succeeded(response, 'mqalice');
  const inboxOf = (local: string, subject?: string) => mail.inbox(at(local), PASSWORD, subject);
  const spoolOf = async (list: string) => {
    const { id } = await mail
      .db('mail_lists')
      .where({ address: at(list) })
      .first('id');
    return join(mail.host.dir, 'private/var/spool/mlmmj', id);
  };

  before(async () => {
    mail = await startMailLab({ prefix: 'up-mq', subnet: '10.77.73', bridge: 'uplab73', mx: 'mx1.mq.test', tenants: ['mqalice'] });
    work = mkdtempSync(join(tmpdir(), 'up-mail-mq-'));
    await applied(await tenant()('POST', '/v1/mail/domains', { name: DOMAIN }));
    for (const local of BOXES)
      await applied(
        await tenant()('POST', '/v1/mail/boxes', { address: at(local), password: PASSWORD, ...(local === 'tiny' ? { quotaMb: 1 } : {}) }),
      );
  });

  after(async () => {
    await mail?.down();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function listWithMembers(local: string, policy: string) {
    await applied(await tenant()('POST', '/v1/mail/lists', { address: at(local), policy, moderators: [at('mod')] }));
    await applied(await tenant()('POST', `/v1/mail/lists/${at(local)}/members`, { addresses: [at('m1'), at('m2')] }));
  }

  test("moderated: a member's post is held in mlmmj's moderation queue, reaches the members once a moderator approves it", async () => {
    await listWithMembers('held', 'moderated');
    assert.match((await mail.send({ from: at('m1'), to: at('held'), subject: 'held-post' })).out, /250 2\.0\.0 Ok: queued/);
    const request = 'Please moderate held@lists-mq.test: held-post';
    assert.ok((await inboxOf('mod', request)).includes(request), 'the moderator is asked');
    const queue = readdirSync(join(await spoolOf('held'), 'moderation'));
    assert.equal(queue.length, 1, `one post waits on disk: ${queue}`);
    // mlmmj decided when it wrote to the moderator: had it sent the post on, m2 would have it.
    assert.ok(!(await inboxOf('m2')).includes('held-post'), 'a held post reaches no member');

    const approval = await mail.send({ from: at('mod'), to: `held+moderate-${queue[0]}@${DOMAIN}`, subject: 'approve' });
    assert.match(approval.out, /250 2\.0\.0 Ok: queued/);
    assert.ok((await inboxOf('m2', 'held-post')).includes('held-post'), 'approved, it reaches the members');
    assert.ok((await inboxOf('m1', 'held-post')).includes('held-post'));
  });

  test("announce-only: a member's post is refused (the member is told), a moderator's reaches every member", async () => {
    await listWithMembers('news', 'announce-only');
    assert.match((await mail.send({ from: at('m1'), to: at('news'), subject: 'member-news' })).out, /250 2\.0\.0 Ok: queued/);
    assert.match((await mail.send({ from: at('mod'), to: at('news'), subject: 'moderator-news' })).out, /250 2\.0\.0 Ok: queued/);
    const m1 = await inboxOf('m1', 'moderator-news');
    const m2 = await inboxOf('m2', 'moderator-news');
    assert.ok(m1.includes('moderator-news') && m2.includes('moderator-news'), JSON.stringify({ m1, m2 }));
    // The member's post went first: had mlmmj let it through, it would be there by now.
    assert.ok(!m1.includes('member-news') && !m2.includes('member-news'), JSON.stringify({ m1, m2 }));
    assert.deepEqual(readdirSync(join(await spoolOf('news'), 'moderation')), [], 'refused, not held');
    const denied = 'Post to news@lists-mq.test denied: member-news';
    assert.ok((await inboxOf('m1', denied)).includes(denied), 'the member is told');
  });

  test('a full mailbox is refused with 552 at RCPT, while the sender is connected; the others still receive', async () => {
    // 1 MiB of quota: a 1.08 MB message fits in dovecot's grace (10 %) and leaves the mailbox over its quota.
    const big = join(work, 'big.txt');
    writeFileSync(big, `${'x'.repeat(76)}\n`.repeat(14_000));
    assert.match(
      (await mail.send({ from: 'sender@example.org', to: at('tiny'), subject: 'filler', body: big })).out,
      /250 2\.0\.0 Ok: queued/,
    );
    assert.ok((await inboxOf('tiny', 'filler')).includes('filler'));
    const refused = await mail.send({ from: 'sender@example.org', to: at('tiny'), subject: 'one-too-many' });
    assert.match(refused.out, /-> RCPT TO:<tiny@lists-mq\.test>\s*\n<\*\* +552 5\.2\.2 .*Mailbox is full/, refused.out);
    assert.doesNotMatch(refused.out, /-> DATA/, 'refused before the message was sent');
    assert.match((await mail.send({ from: 'sender@example.org', to: at('m1'), subject: 'not-full' })).out, /250 2\.0\.0 Ok: queued/);
    assert.ok(!(await inboxOf('tiny')).includes('one-too-many'));
  });

  test('the health check logs in as the probe mailbox over IMAPS; a broken probe or a stopped dovecot is reported and repaired, and mail taken meanwhile is delivered at once', async () => {
    const last = await mail.db('jobs').where({ op: 'mail.apply', status: 'succeeded' }).orderBy('created_at', 'desc').first('payload');
    const ctx = mail.handlerContext();
    const check = () =>
      healthCheckHandler.run(
        {
          resource: { type: 'mail-host', key: mail.host.name },
          host: last.payload.host,
          layout: last.payload.layout,
          generation: last.payload.generation,
          queueMax: 500,
        },
        ctx,
      ) as Promise<Json>;
    const healthy = await check();
    assert.equal(healthy.healthy, true, JSON.stringify(healthy.problems));

    // The password is the host's: root's alone there, and only its hash in dovecot's file.
    const secretFile = join(mail.host.dir, 'private/etc/up/mail-probe/secret');
    const secret = readFileSync(secretFile, 'utf8').trim();
    assert.equal(statSync(secretFile).mode & 0o777, 0o600);
    const probeFile = join(mail.host.dir, 'private/etc/dovecot/up-probe');
    const entry = readFileSync(probeFile, 'utf8');
    assert.match(entry, /^up-probe:\{SHA512-CRYPT\}\$6\$/);
    assert.ok(!entry.includes(secret));
    assert.ok((await imap('read', mail.server, 'up-probe', secret)).ok, 'the probe logs in with it');

    // Someone edits the probe's entry: TLS still answers, the login fails, and the check says so.
    writeFileSync(probeFile, entry.replace(/\$6\$[^:]+/, '$6$broken$broken'));
    // dovecot looks at a passwd-file again at most once a second: the login just before may still be what it knows.
    const broken = await eventually('the check to see the broken probe entry', async () => {
      const found = await check();
      return !found.healthy && found;
    });
    assert.deepEqual(
      broken.problems.map((p: Json) => p.cause),
      ['imap-login-failed'],
      JSON.stringify(broken.problems),
    );
    await healthRepairHandler.run(last.payload, ctx);
    const repaired = await check();
    assert.equal(repaired.healthy, true, JSON.stringify(repaired.problems));
    assert.equal(readFileSync(secretFile, 'utf8').trim(), secret, 'the repair keeps the password, mends the entry');

    // dovecot down: quota-status cannot be asked, and the mail is taken all the same; it is delivered once the repair started dovecot.
    await mail.stop('/run/dovecot/master.pid');
    const meanwhile = await mail.send({ from: 'sender@example.org', to: at('m2'), subject: 'while-dovecot-was-down' });
    assert.match(meanwhile.out, /250 2\.0\.0 Ok: queued/, meanwhile.out);
    const down = (await check()).problems.map((p: Json) => p.cause);
    assert.ok(down.includes('dovecot-stopped') && down.includes('imap-login-failed'), JSON.stringify(down));
    const restarted = (await healthRepairHandler.run(last.payload, ctx)) as Json;
    assert.deepEqual(restarted.started, ['dovecot']);
    assert.equal((await check()).healthy, true);
    assert.ok((await inboxOf('m2', 'while-dovecot-was-down')).includes('while-dovecot-was-down'), 'what waited is delivered at once');

    for (const table of ['jobs', 'job_events'])
      assert.ok(!JSON.stringify(await mail.db(table).select('*')).includes(secret), `${table} holds the probe's password`);
    for (const log of ['postfix.log', 'dovecot.log'])
      assert.ok(!readFileSync(join(mail.host.dir, 'private/var/log', log), 'utf8').includes(secret), `${log} holds it`);
  });
});
