/**
 * Mail end to end on real postfix, dovecot and mlmmj in lab hosts: tenants create domains,
 * mailboxes, aliases and lists through the API and the CLI; swaks sends from outside, IMAPS reads; the relay is
 * closed, submission needs TLS and authentication, plaintext IMAP logins are refused, one
 * tenant's credentials never open another's mailbox, hostile names are refused, and the
 * password itself is nowhere but in the request that set it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import healthCheckHandler from '../../handlers/mail/health.check.mail-host/handler.ts';
import healthRepairHandler from '../../handlers/mail/health.repair.mail-host/handler.ts';
import { labBind, tsigKeysDir, type LabBind } from '../helpers/bind.ts';
import type { LabHost } from '../helpers/lab-hosts.ts';
import { imap, sendFromOutside, swaks } from '../helpers/mail.ts';
import { startMailLab, type MailLab } from '../helpers/mail-lab.ts';

const UP = fileURLToPath(new URL('../../bin/up.js', import.meta.url));
const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);
const TENANTS = ['mailalice', 'mailbob'];
const MX = 'mx1.mail.test';
const ALICE_PASSWORD = `alice-${randomUUID()}`;
const BOB_PASSWORD = `bob-${randomUUID()}`;

type Stack = MailLab['stack'];
type Json = Record<string, any>;

describe('mail on real postfix, dovecot and mlmmj', { timeout: 360_000 }, () => {
  let mail: MailLab;
  let host: LabHost;
  let stack: Stack;
  let ca: string;
  let certSha256: string;
  let bind: LabBind;
  let keys: Awaited<ReturnType<typeof tsigKeysDir>>;
  const tokens: Record<string, string> = {};

  const api =
    (who: string) =>
    async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> => {
      const res = await fetch(`${stack.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${who === 'admin' ? stack.adminToken : tokens[who]}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : null) as Json };
    };
  const alice = api('mailalice');
  const bob = api('mailbob');

  async function settle(jobs: Json[]): Promise<Json[]> {
    return Promise.all(
      jobs.map(async (job) => {
        for (let i = 0; i < 1200; i++) {
          const { body } = await api('admin')('GET', `/v1/jobs/${job.id}`);
          if (FINAL.has(body.status)) return body;
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error(`job ${job.id} did not finish`);
      }),
    );
  }

  /** 202, and every job succeeded (a superseded apply was overtaken by a newer one, which carries this change too). */
  async function applied(response: { status: number; body: Json }): Promise<Json> {
    assert.equal(response.status, 202, JSON.stringify(response.body));
    for (const job of await settle(response.body.jobs))
      assert.ok(['succeeded', 'superseded'].includes(job.status), `${job.op} on ${job.target}: ${job.status} ${JSON.stringify(job.error)}`);
    return response.body;
  }

  /** The CLI as the tenant, with the password (if any) on stdin. */
  function cli(who: string, args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [UP, ...args], {
        env: { ...process.env, UP_URL: stack.url!, UP_TOKEN: tokens[who], UP_LOG_LEVEL: 'silent' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      child.stdin.end(stdin ?? '');
    });
  }

  const server = () => ({ address: host.address, name: MX, ca });
  const send = (to: string, subject: string, extra: string[] = []) =>
    sendFromOutside(host.address, { from: 'sender@example.org', to, subject }, extra);
  /** The subjects a mailbox holds, once `subject` is among them (delivery is asynchronous after 250). */
  async function inbox(user: string, password: string, subject?: string): Promise<string[]> {
    for (let i = 0; ; i++) {
      const answer = await imap('read', server(), user, password);
      assert.ok(answer.ok, `${user}: ${answer.error}`);
      if (!subject || answer.subjects!.includes(subject) || i === 40) return answer.subjects!;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    // alice's zone is hosted here (BIND): her mail domain's MX, SPF and DMARC are kept in it.
    bind = await labBind();
    keys = await tsigKeysDir(bind.key.name, bind.key.secret);
    process.env.UP_TSIG_KEYS_DIR = keys.dir;
    mail = await startMailLab({ prefix: 'up-mlt', subnet: '10.77.71', bridge: 'uplab71', mx: MX, tenants: TENANTS });
    ({ host, stack, certSha256 } = mail);
    ca = mail.server.ca;
    Object.assign(tokens, mail.tokens);
    await stack.database!.knex('hosts').insert({
      id: randomUUID(),
      name: 'dns1',
      address: '127.0.0.1',
      port: 22,
      ssh_user: 'root',
      host_key_sha256: `SHA256:${'A'.repeat(43)}`,
      local: true,
    });
  });

  after(async () => {
    await mail?.down();
    await bind?.down();
    await keys?.remove();
    delete process.env.UP_TSIG_KEYS_DIR;
  });

  test('a tenant creates a domain and a mailbox with the CLI; swaks delivers, IMAPS reads', async () => {
    const dnsServer = await api('admin')('POST', '/v1/dns/servers', {
      name: 'lab',
      primary: 'dns1',
      address: bind.server.address,
      port: bind.server.port,
      rndcConf: join(bind.dir, 'rndc.conf'),
      zoneDir: join(bind.dir, 'zones'),
      keyName: bind.key.name,
    });
    assert.equal(dnsServer.status, 201, JSON.stringify(dnsServer.body));
    const zone = await alice('POST', '/v1/dns/zones', { name: 'alice-mail.test' });
    assert.equal(zone.status, 202, JSON.stringify(zone.body));
    assert.equal((await settle([zone.body]))[0].status, 'succeeded');
    const domain = await cli('mailalice', ['mail', 'domains', 'create', 'alice-mail.test', '--wait']);
    assert.equal(domain.code, 0, domain.stderr);
    assert.match(domain.stdout, /MX\s+10 mx1\.mail\.test\./);
    // Her zone is hosted here: up keeps the records in it.
    assert.deepEqual(await bind.dig('alice-mail.test', 'MX'), ['10 mx1.mail.test.']);
    assert.deepEqual(await bind.dig('alice-mail.test', 'TXT'), ['"v=spf1 mx -all"']);
    assert.deepEqual(await bind.dig('_dmarc.alice-mail.test', 'TXT'), ['"v=DMARC1; p=quarantine"']);
    const shown = JSON.parse((await cli('mailalice', ['mail', 'domains', 'show', 'alice-mail.test', '--json'])).stdout);
    assert.equal(shown.recordsManaged, true);
    const box = await cli(
      'mailalice',
      ['mail', 'boxes', 'create', 'alice@alice-mail.test', '--quota', '50', '--wait'],
      `${ALICE_PASSWORD}\n`,
    );
    assert.equal(box.code, 0, box.stderr);
    // The job succeeded: the next message is accepted at once, without any reload.
    const sent = await send('alice@alice-mail.test', 'first');
    assert.match(sent.out, /<- {2}250 2\.0\.0 Ok: queued/, sent.out);
    assert.ok((await inbox('alice@alice-mail.test', ALICE_PASSWORD, 'first')).includes('first'));
    const answer = await imap('read', server(), 'alice@alice-mail.test', ALICE_PASSWORD);
    assert.equal(answer.certSha256, certSha256, 'dovecot serves the installed certificate');
    assert.ok(answer.loginMs! < 500, `login took ${answer.loginMs} ms`);
    const listed = await cli('mailalice', ['mail', 'boxes', 'list', '--json']);
    assert.equal(JSON.parse(listed.stdout)[0].status, 'ready');
    // An unknown address is refused while the transaction is open.
    assert.match((await send('nobody@alice-mail.test', 'x')).out, /<[*~]\* +550 5\.1\.1/);
  });

  test('an alias reaches its targets and the catch-all takes every address without a mailbox (but not the mailboxes)', async () => {
    await applied(await alice('POST', '/v1/mail/boxes', { address: 'carol@alice-mail.test', password: `${ALICE_PASSWORD}-c` }));
    await applied(
      await alice('POST', '/v1/mail/aliases', {
        address: 'team@alice-mail.test',
        targets: ['alice@alice-mail.test', 'carol@alice-mail.test'],
      }),
    );
    await applied(await alice('POST', '/v1/mail/aliases', { address: '@alice-mail.test', targets: ['carol@alice-mail.test'] }));
    assert.match((await send('team@alice-mail.test', 'to-team')).out, /250 2\.0\.0 Ok: queued/);
    assert.match((await send('random@alice-mail.test', 'to-anyone')).out, /250 2\.0\.0 Ok: queued/);
    assert.match((await send('alice@alice-mail.test', 'to-alice')).out, /250 2\.0\.0 Ok: queued/);
    const carol = await inbox('carol@alice-mail.test', `${ALICE_PASSWORD}-c`, 'to-anyone');
    assert.ok(carol.includes('to-team') && carol.includes('to-anyone'), JSON.stringify(carol));
    const aliceBox = await inbox('alice@alice-mail.test', ALICE_PASSWORD, 'to-alice');
    assert.ok(aliceBox.includes('to-team') && aliceBox.includes('to-alice'), JSON.stringify(aliceBox));
    assert.ok(!carol.includes('to-alice'), 'the catch-all does not take a mailbox’s mail');
  });

  test('a list delivers to every member; members-only refuses a non-member; tenant B gets 404', async () => {
    const made = await cli('mailalice', ['mail', 'lists', 'create', 'devs@alice-mail.test', '--wait']);
    assert.equal(made.code, 0, made.stderr);
    const subscribed = await cli('mailalice', [
      'mail',
      'lists',
      'subscribe',
      'devs@alice-mail.test',
      'alice@alice-mail.test',
      'carol@alice-mail.test',
      '--wait',
    ]);
    assert.equal(subscribed.code, 0, subscribed.stderr);
    const members = await cli('mailalice', ['mail', 'lists', 'members', 'devs@alice-mail.test', '--json']);
    assert.deepEqual(
      JSON.parse(members.stdout).map((m: Json) => m.address),
      ['alice@alice-mail.test', 'carol@alice-mail.test'],
    );
    const shown = JSON.parse((await cli('mailalice', ['mail', 'lists', 'show', 'devs@alice-mail.test', '--json'])).stdout);
    assert.deepEqual([shown.policy, shown.members, shown.status], ['members-only', 2, 'ready']);

    const post = (from: string, subject: string) =>
      sendFromOutside(host.address, { from, to: 'devs@alice-mail.test', subject, body: 'to the list' });
    assert.match((await post('sender@example.org', 'outsider-post')).out, /250 2\.0\.0 Ok: queued/);
    assert.match((await post('alice@alice-mail.test', 'member-post')).out, /250 2\.0\.0 Ok: queued/);
    const carol = await inbox('carol@alice-mail.test', `${ALICE_PASSWORD}-c`, 'member-post');
    const aliceBox = await inbox('alice@alice-mail.test', ALICE_PASSWORD, 'member-post');
    assert.ok(carol.includes('member-post') && aliceBox.includes('member-post'), JSON.stringify({ carol, aliceBox }));
    // The outsider's post went first: had mlmmj let it through, it would be there by now.
    assert.ok(!carol.includes('outsider-post') && !aliceBox.includes('outsider-post'), 'members-only refused the outsider');

    // B: A's list is a name nobody has.
    assert.equal((await bob('GET', '/v1/mail/lists/devs@alice-mail.test')).status, 404);
    assert.equal((await bob('GET', '/v1/mail/lists/devs@alice-mail.test/members')).status, 404);
    assert.equal((await bob('POST', '/v1/mail/lists/devs@alice-mail.test/members', { addresses: ['bob@bob-mail.test'] })).status, 404);
    assert.equal((await bob('DELETE', '/v1/mail/lists/devs@alice-mail.test')).status, 404);
    assert.equal((await bob('POST', '/v1/mail/lists', { address: 'steal@alice-mail.test' })).status, 400);
    assert.deepEqual((await bob('GET', '/v1/mail/lists')).body.items, []);

    // Hostile names and targets never reach mlmmj's spool or postfix's maps.
    for (const address of [
      '../x@alice-mail.test',
      'a|b@alice-mail.test',
      'x@alice-mail.test\r\n',
      'a/b@alice-mail.test',
      'A@alice-mail.test',
    ])
      assert.equal((await alice('POST', '/v1/mail/lists', { address })).status, 400, JSON.stringify(address));
    for (const member of ['|/bin/sh', ':include:/etc/passwd', '/var/spool/x', 'x@y.test\r\nBcc: z@w.test'])
      assert.equal(
        (await alice('POST', '/v1/mail/lists/devs@alice-mail.test/members', { addresses: [member] })).status,
        400,
        JSON.stringify(member),
      );
    assert.equal((await alice('POST', '/v1/mail/lists', { address: 'news@alice-mail.test', policy: 'announce-only' })).status, 400);
    assert.equal((await alice('POST', '/v1/mail/lists', { address: 'team@alice-mail.test' })).status, 409, 'an alias has it');

    // Unsubscribed, carol gets no more; deleted, the list's spool is gone from the host.
    await applied(await alice('POST', '/v1/mail/lists/devs@alice-mail.test/members/remove', { addresses: ['carol@alice-mail.test'] }));
    assert.match((await post('alice@alice-mail.test', 'after-carol-left')).out, /250 2\.0\.0 Ok: queued/);
    assert.ok((await inbox('alice@alice-mail.test', ALICE_PASSWORD, 'after-carol-left')).includes('after-carol-left'));
    assert.ok(!(await inbox('carol@alice-mail.test', `${ALICE_PASSWORD}-c`)).includes('after-carol-left'));
    const spool = join(host.dir, 'private/var/spool/mlmmj');
    const listId = (await stack.database!.knex('mail_lists').where({ address: 'devs@alice-mail.test' }).first('id')).id;
    assert.ok(readdirSync(spool).includes(listId), 'the spool is named by id');
    const deleted = await cli('mailalice', ['mail', 'lists', 'delete', 'devs@alice-mail.test', '--yes', '--wait']);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.ok(!readdirSync(spool).includes(listId), 'the spool went with the list');
  });

  test('no open relay; submission needs TLS and authentication; IMAP logins need TLS', async () => {
    const relay = await send('victim@elsewhere.example', 'relay');
    assert.match(relay.out, /<[*~]\* +554 5\.7\.1 .*Relay access denied/, relay.out);
    const submission = (extra: string[]) =>
      swaks(['--server', host.address, '--port', '587', '--from', 'alice@alice-mail.test', '--to', 'victim@elsewhere.example', ...extra]);
    const noTls = await submission(['--auth', 'PLAIN', '--auth-user', 'alice@alice-mail.test', '--auth-password', ALICE_PASSWORD]);
    assert.notEqual(noTls.code, 0);
    assert.doesNotMatch(noTls.out, /235 2\.7\.0 Authentication successful/, 'no AUTH without TLS');
    const noAuth = await submission(['--tls']);
    assert.match(noAuth.out, /<[*~]\* +554 5\.7\.1/, noAuth.out);
    const wrong = await submission(['--tls', '--auth', 'PLAIN', '--auth-user', 'alice@alice-mail.test', '--auth-password', BOB_PASSWORD]);
    assert.match(wrong.out, /<[*~]\* +535/, wrong.out);
    const good = await submission(['--tls', '--auth', 'PLAIN', '--auth-user', 'alice@alice-mail.test', '--auth-password', ALICE_PASSWORD]);
    assert.match(good.out, /235 2\.7\.0 Authentication successful/, good.out);
    assert.match(good.out, /250 2\.0\.0 Ok: queued/, 'an authenticated user sends out');
    const smtps = await swaks([
      '--server',
      host.address,
      '--port',
      '465',
      '--tls-on-connect',
      '--from',
      'sender@example.org',
      '--to',
      'victim@elsewhere.example',
    ]);
    assert.match(smtps.out, /<[*~]\* +554 5\.7\.1/, 'smtps without authentication relays nothing');
    const plain = await imap('plain143', server(), 'alice@alice-mail.test', ALICE_PASSWORD);
    assert.equal(plain.ok, false, 'a plaintext LOGIN without STARTTLS is refused');
    assert.ok(plain.capabilities?.includes('LOGINDISABLED'), JSON.stringify(plain.capabilities));
  });

  test("tenant B never reads tenant A's mailbox, nor touches A's domain", async () => {
    const bobs = await applied(await bob('POST', '/v1/mail/domains', { name: 'bob-mail.test' }));
    assert.equal(bobs.domain.recordsManaged, false, 'no zone of his here: he publishes the records himself');
    await applied(await bob('POST', '/v1/mail/boxes', { address: 'bob@bob-mail.test', password: BOB_PASSWORD }));
    assert.ok((await imap('read', server(), 'bob@bob-mail.test', BOB_PASSWORD)).ok);
    const crossed = await imap('read', server(), 'alice@alice-mail.test', BOB_PASSWORD);
    assert.equal(crossed.ok, false);
    assert.match(crossed.error!, /AUTHENTICATIONFAILED/);
    // A's names are not B's to see or use.
    assert.equal((await bob('GET', '/v1/mail/boxes/alice@alice-mail.test')).status, 404);
    assert.equal((await bob('GET', '/v1/mail/domains/alice-mail.test')).status, 404);
    assert.equal((await bob('PATCH', '/v1/mail/boxes/alice@alice-mail.test', { password: BOB_PASSWORD })).status, 404);
    assert.equal((await bob('DELETE', '/v1/mail/aliases/@alice-mail.test')).status, 404);
    assert.equal((await bob('POST', '/v1/mail/boxes', { address: 'evil@alice-mail.test', password: BOB_PASSWORD })).status, 400);
    assert.equal((await bob('POST', '/v1/mail/aliases', { address: 'steal@alice-mail.test', targets: ['bob@bob-mail.test'] })).status, 400);
    assert.equal((await bob('POST', '/v1/mail/domains', { name: 'alice-mail.test' })).status, 409);
    const bobsList = (await bob('GET', '/v1/mail/boxes')).body.items.map((b: Json) => b.address);
    assert.deepEqual(bobsList, ['bob@bob-mail.test']);
  });

  test('hostile names are refused with 400 and never reach a map', async () => {
    const boxes = [
      'a\r\nb@alice-mail.test',
      '|/bin/sh@alice-mail.test',
      '../../etc@alice-mail.test',
      'a b@alice-mail.test',
      'a@alice-mail.test\n@x',
      'A@alice-mail.test',
      'a..b@alice-mail.test',
      'a@alice-mail.test,b@x.test',
    ];
    for (const address of boxes)
      assert.equal((await alice('POST', '/v1/mail/boxes', { address, password: ALICE_PASSWORD })).status, 400, JSON.stringify(address));
    const targets = [
      '|/usr/bin/touch /tmp/pwned',
      ':include:/etc/passwd',
      '/var/vmail/x',
      'x@y.test\r\nBcc: z@w.test',
      'x@y.test, z@w.test',
      '"x"@y.test',
      'x@y.test #',
    ];
    for (const target of targets)
      assert.equal(
        (await alice('POST', '/v1/mail/aliases', { address: 'h@alice-mail.test', targets: [target] })).status,
        400,
        JSON.stringify(target),
      );
    for (const name of ['a/b.test', 'x.test\r\n', '-x.test', 'x', '..test'])
      assert.equal((await alice('POST', '/v1/mail/domains', { name })).status, 400, JSON.stringify(name));
    // A password with a newline is just a password: only its hash reaches the host.
    await applied(await alice('POST', '/v1/mail/boxes', { address: 'nl@alice-mail.test', password: `line1\nnl@evil.test:{PLAIN}x::::::` }));
    assert.equal((await imap('read', server(), 'nl@evil.test', 'x')).ok, false);
  });

  test('a password change takes effect at once; the old one stops working', async () => {
    const next = `${ALICE_PASSWORD}-2`;
    const changed = await cli('mailalice', ['mail', 'boxes', 'passwd', 'alice@alice-mail.test', '--wait'], `${next}\n`);
    assert.equal(changed.code, 0, changed.stderr);
    assert.equal((await imap('read', server(), 'alice@alice-mail.test', ALICE_PASSWORD)).ok, false);
    assert.ok((await imap('read', server(), 'alice@alice-mail.test', next)).ok);
  });

  test('a disabled mailbox neither receives nor logs in; quota and plan limits hold', async () => {
    await applied(await alice('PATCH', '/v1/mail/boxes/carol@alice-mail.test', { enabled: false }));
    assert.equal((await imap('read', server(), 'carol@alice-mail.test', `${ALICE_PASSWORD}-c`)).ok, false);
    await applied(await alice('PATCH', '/v1/mail/boxes/carol@alice-mail.test', { enabled: true }));
    assert.ok((await imap('read', server(), 'carol@alice-mail.test', `${ALICE_PASSWORD}-c`)).ok);
    const over = await alice('POST', '/v1/mail/boxes', { address: 'big@alice-mail.test', password: ALICE_PASSWORD, quotaMb: 1_000_000 });
    assert.equal(over.status, 422, JSON.stringify(over.body));
    assert.match(over.body.message, /mailQuotaMb/);
  });

  test('the health check sees a stopped dovecot and a hand-edited map; the repair re-renders from PostgreSQL', async () => {
    const db = stack.database!.knex;
    const last = await db('jobs').where({ op: 'mail.apply', status: 'succeeded' }).orderBy('created_at', 'desc').first('payload');
    const ctx = mail.handlerContext();
    const check = () =>
      healthCheckHandler.run(
        {
          resource: { type: 'mail-host', key: host.name },
          host: last.payload.host,
          layout: last.payload.layout,
          generation: last.payload.generation,
          queueMax: 500,
        },
        ctx,
      ) as Promise<Json>;
    const healthy = await check();
    assert.equal(healthy.healthy, true, JSON.stringify(healthy.problems));
    const aliases = join(host.dir, 'private/etc/postfix/up/aliases');
    appendFileSync(aliases, 'stolen@alice-mail.test bob@bob-mail.test\n');
    await mail.stop('/run/dovecot/master.pid');
    const broken = await check();
    assert.equal(broken.healthy, false);
    const causes = broken.problems.map((p: Json) => p.cause).sort();
    for (const cause of ['dovecot-stopped', 'imap-login-failed', 'maps-drift', 'tls-down'])
      assert.ok(causes.includes(cause), JSON.stringify(causes));
    await healthRepairHandler.run(last.payload, ctx);
    const repaired = await check();
    assert.equal(repaired.healthy, true, JSON.stringify(repaired.problems));
    assert.ok(!readFileSync(aliases, 'utf8').includes('stolen@'), 'the hand-made alias is gone');
    assert.ok((await imap('read', server(), 'bob@bob-mail.test', BOB_PASSWORD)).ok, 'dovecot serves again');
  });

  test('a domain with mailboxes is deleted only with force; its mailboxes go with it', async () => {
    const refused = await cli('mailalice', ['mail', 'domains', 'delete', 'alice-mail.test', '--yes']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /mailboxes/);
    const db = stack.database!.knex;
    const domainId = (await db('mail_domains').where({ name: 'alice-mail.test' }).first('id')).id;
    const vmail = join(host.dir, 'private/var/vmail');
    assert.ok(readdirSync(vmail).includes(domainId), 'the Maildirs are named by ids');
    const forced = await cli('mailalice', ['mail', 'domains', 'delete', 'alice-mail.test', '--yes', '--force', '--wait']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal((await imap('read', server(), 'alice@alice-mail.test', `${ALICE_PASSWORD}-2`)).ok, false);
    assert.match((await send('alice@alice-mail.test', 'gone')).out, /<[*~]\* +554 5\.7\.1 .*Relay access denied/);
    assert.ok(!readdirSync(vmail).includes(domainId), 'its Maildirs are gone from the host');
    assert.deepEqual(await bind.dig('alice-mail.test', 'MX'), [], 'its records went with it');
    assert.deepEqual(await bind.dig('_dmarc.alice-mail.test', 'TXT'), []);
    // Bob's domain is untouched.
    assert.ok((await imap('read', server(), 'bob@bob-mail.test', BOB_PASSWORD)).ok);
  });

  test('no password appears in jobs, events, audit or the hosts’ logs', async () => {
    const db = stack.database!.knex;
    const needles = [ALICE_PASSWORD, BOB_PASSWORD];
    const tables = ['jobs', 'job_events', 'audit'];
    for (const table of tables) {
      if (!(await db.schema.hasTable(table))) continue;
      const text = JSON.stringify(await db(table).select('*'));
      for (const needle of needles) assert.ok(!text.includes(needle), `${table} holds a password`);
    }
    const jobs = JSON.stringify(await db('jobs').where({ op: 'mail.apply' }).select('payload'));
    assert.match(jobs, /\$6\$/, 'the hashes are what travels');
    for (const log of ['postfix.log', 'dovecot.log']) {
      const text = readFileSync(join(host.dir, 'private/var/log', log), 'utf8');
      assert.ok(text.length > 0, `${log} was written`);
      for (const needle of needles) assert.ok(!text.includes(needle), `${log} holds a password`);
    }
  });
});
