/**
 * DKIM on a real mail host (postfix + opendkim in a lab host) with a real zone (BIND): a mail
 * domain gets a key made on the host, its TXT record published through the managed records, and
 * mail a mailbox submits carries a signature that opendkim verifies against what BIND answers.
 * Only authenticated submissions are signed, each with its own login's domain; the private key
 * is opendkim's alone; hostile names never reach opendkim's tables; deleting the domain takes
 * the key and the record with it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import healthCheckHandler from '../../handlers/mail/health.check.mail-host/handler.ts';
import healthRepairHandler from '../../handlers/mail/health.repair.mail-host/handler.ts';
import { labBind, tsigKeysDir, type LabBind } from '../helpers/bind.ts';
import type { LabHost } from '../helpers/lab-hosts.ts';
import { sendFromOutside, swaks } from '../helpers/mail.ts';
import { startMailLab, type MailLab } from '../helpers/mail-lab.ts';

const run = promisify(execFile);
const FINAL = new Set(['succeeded', 'failed', 'dead', 'superseded']);
const MX = 'mx1.dkim.test';
const ALICE_DOMAIN = 'alice-dkim.test';
const BOB_DOMAIN = 'bob-dkim.test';
/** A unix user on the mail host standing for a tenant's login there (this lab's prefix). */
const LOGIN = 'uplab72t';
const ALICE_PASSWORD = `alice-${randomUUID()}`;
const BOB_PASSWORD = `bob-${randomUUID()}`;

type Stack = MailLab['stack'];
type Json = Record<string, any>;

describe('DKIM signing on real postfix and opendkim, published in a real zone', { timeout: 300_000 }, () => {
  let mail: MailLab;
  let host: LabHost;
  let stack: Stack;
  let work: string;
  let bind: LabBind;
  let keys: Awaited<ReturnType<typeof tsigKeysDir>>;
  let loginMade = false;
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
  const alice = api('dkalice');
  const bob = api('dkbob');

  async function applied(response: { status: number; body: Json }): Promise<Json> {
    assert.equal(response.status, 202, JSON.stringify(response.body));
    for (const job of (response.body.jobs ?? [response.body]) as Json[]) {
      let body: Json = {};
      for (let i = 0; i < 2400 && !FINAL.has(body.status); i++) {
        body = (await api('admin')('GET', `/v1/jobs/${job.id}`)).body;
        if (!FINAL.has(body.status)) await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(
        ['succeeded', 'superseded'].includes(body.status),
        `${body.op} on ${body.target}: ${body.status} ${JSON.stringify(body.error)}`,
      );
    }
    return response.body;
  }

  async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const value = await fn();
      if (value !== undefined) return value;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** A command on the mail host, as root over SSH (inside its private mounts). */
  async function onHost(command: string): Promise<{ code: number; out: string }> {
    try {
      const { stdout, stderr } = await run('ssh', [
        '-i',
        host.privateKeyFile,
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'LogLevel=ERROR',
        '-o',
        'BatchMode=yes',
        `root@${host.address}`,
        command,
      ]);
      return { code: 0, out: stdout + stderr };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  }

  /** The messages delivered to a mailbox (raw), once one holds `subject`. */
  async function delivered(address: string, subject: string): Promise<string> {
    const db = stack.database!.knex;
    const box = await db('mail_boxes').where({ address }).first('id', 'domain_id');
    const maildir = join(host.dir, 'private/var/vmail', box.domain_id, box.id, 'Maildir');
    return until(`${subject} in ${address}`, async () => {
      for (const sub of ['new', 'cur']) {
        const dir = join(maildir, sub);
        if (!existsSync(dir)) continue;
        for (const file of readdirSync(dir)) {
          const text = readFileSync(join(dir, file), 'utf8');
          if (text.includes(`Subject: ${subject}`)) return text;
        }
      }
      return undefined;
    });
  }

  /** The DKIM-Signature header fields of a message, unfolded, as tag maps. */
  function signatures(message: string): Map<string, string>[] {
    const head = message.slice(0, message.indexOf('\n\n'));
    const fields = head.replace(/\r?\n[ \t]+/g, ' ').split('\n');
    return fields
      .filter((f) => /^DKIM-Signature:/i.test(f))
      .map(
        (f) =>
          new Map(
            f
              .slice(f.indexOf(':') + 1)
              .split(';')
              .map((t) => t.trim().split('=', 2) as [string, string])
              .filter(([k]) => k),
          ),
      );
  }

  /** opendkim's own verifier on a message, resolving through libunbound against the lab BIND only. */
  async function verify(message: string): Promise<string> {
    const file = join(work, `msg-${randomUUID()}.eml`);
    writeFileSync(file, message.replace(/\r?\n/g, '\r\n'));
    try {
      const { stdout, stderr } = await run('opendkim', ['-x', join(work, 'verify.conf'), '-t', file, '-vv']);
      return stdout + stderr;
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string };
      return `failed: ${e.stdout ?? ''}${e.stderr ?? ''}`;
    }
  }

  const submit = (user: string, password: string, to: string, subject: string, extra: string[] = []) =>
    swaks([
      '--server',
      host.address,
      '--port',
      '587',
      '--tls',
      '--auth',
      'PLAIN',
      '--auth-user',
      user,
      '--auth-password',
      password,
      '--ehlo',
      'client.example',
      '--from',
      user,
      '--to',
      to,
      '--header',
      `Subject: ${subject}`,
      '--body',
      'signed by the host',
      ...extra,
    ]);

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'up-dkim-'));
    await run('useradd', ['--no-create-home', '--shell', '/bin/sh', LOGIN]);
    loginMade = true;

    bind = await labBind();
    keys = await tsigKeysDir(bind.key.name, bind.key.secret);
    process.env.UP_TSIG_KEYS_DIR = keys.dir;
    // The verifier asks the lab BIND and nothing else (libunbound, as opendkim resolves in production).
    writeFileSync(
      join(work, 'unbound.conf'),
      [
        'server:',
        '  do-not-query-localhost: no',
        `  local-zone: "test." nodefault`,
        'stub-zone:',
        `  name: "${ALICE_DOMAIN}"`,
        `  stub-addr: ${bind.server.address}@${bind.server.port}`,
        '',
      ].join('\n'),
    );
    writeFileSync(join(work, 'verify.conf'), `Mode v\nSyslog no\nResolverConfiguration ${join(work, 'unbound.conf')}\n`);

    mail = await startMailLab({ prefix: 'up-dk', subnet: '10.77.72', bridge: 'uplab72', mx: MX, tenants: ['dkalice', 'dkbob'] });
    ({ host, stack } = mail);
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
    // opendkim, postfix and dovecot run in the host's namespace: the lab stops them with it.
    await mail?.down();
    await bind?.down();
    await keys?.remove();
    delete process.env.UP_TSIG_KEYS_DIR;
    if (loginMade) await run('userdel', [LOGIN]).catch(() => undefined);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('a domain gets a key made on its host, published as up1._domainkey in its zone', async () => {
    const server = await api('admin')('POST', '/v1/dns/servers', {
      name: 'lab',
      primary: 'dns1',
      address: bind.server.address,
      port: bind.server.port,
      rndcConf: join(bind.dir, 'rndc.conf'),
      zoneDir: join(bind.dir, 'zones'),
      keyName: bind.key.name,
    });
    assert.equal(server.status, 201, JSON.stringify(server.body));
    await applied(await alice('POST', '/v1/dns/zones', { name: ALICE_DOMAIN }));
    // As on a host where the package started opendkim with its own configuration (its socket in /run).
    const packaged = join(host.dir, 'packaged-opendkim.conf');
    writeFileSync(
      packaged,
      'UserID opendkim\nUMask 007\nSocket local:/run/opendkim/opendkim.sock\nPidFile /run/opendkim/opendkim.pid\nSyslog no\n',
    );
    const first = await onHost(`opendkim -x ${packaged} && sleep 0.5 && cat /run/opendkim/opendkim.pid`);
    assert.equal(first.code, 0, first.out);
    await applied(await alice('POST', '/v1/mail/domains', { name: ALICE_DOMAIN }));
    // Restarted with up's configuration: listening where postfix's submission looks.
    const now = await onHost('cat /run/opendkim/opendkim.pid; stat -c %F /var/spool/postfix/opendkim/opendkim.sock');
    assert.notEqual(now.out.split('\n')[0], first.out.trim(), 'the packaged opendkim was replaced');
    assert.match(now.out, /\nsocket\n?$/, now.out);

    const db = stack.database!.knex;
    const domain = await until('the public key stored', async () => {
      const row = await db('mail_domains').where({ name: ALICE_DOMAIN }).first();
      return row.dkim_public_key ? row : undefined;
    });
    const txt = await until('the DKIM record in BIND', async () => {
      const answer = await bind.dig(`up1._domainkey.${ALICE_DOMAIN}`, 'TXT');
      return answer.length ? answer : undefined;
    });
    // BIND splits the text in strings of at most 255 bytes.
    const text = txt[0].replace(/^"|"$/g, '').split('" "').join('');
    assert.equal(text, `v=DKIM1; k=rsa; p=${domain.dkim_public_key}`);
    const shown = (await alice('GET', `/v1/mail/domains/${ALICE_DOMAIN}`)).body;
    assert.equal(shown.recordsManaged, true);
    assert.deepEqual(
      shown.records.find((r: Json) => r.name === `up1._domainkey.${ALICE_DOMAIN}`),
      { name: `up1._domainkey.${ALICE_DOMAIN}`, type: 'TXT', data: `"v=DKIM1; k=rsa; p=${domain.dkim_public_key}"` },
    );

    // The key pair is on the host, the private half opendkim's alone; the public half matches DNS.
    const keyFile = `/etc/dkimkeys/up/${domain.id}.private`;
    const stat = await onHost(`stat -c '%a %U %G' ${keyFile} /etc/dkimkeys/up`);
    assert.equal(stat.code, 0, stat.out);
    assert.deepEqual(stat.out.trim().split('\n'), ['600 opendkim opendkim', '700 opendkim opendkim']);
    const derived = await onHost(`openssl pkey -in ${keyFile} -pubout -outform DER | base64 -w0`);
    assert.equal(derived.out.trim(), domain.dkim_public_key);
    const tenant = await onHost(`runuser -u ${LOGIN} -- cat ${keyFile}`);
    assert.notEqual(tenant.code, 0, 'a tenant login reads no DKIM key');
    assert.match(tenant.out, /Permission denied/);
    assert.doesNotMatch(tenant.out, /PRIVATE KEY/);
    // Nor reaches the milter, which would sign for it.
    const socket = await onHost(
      `stat -c '%a %U %G' /var/spool/postfix/opendkim; runuser -u ${LOGIN} -- test -r /var/spool/postfix/opendkim/opendkim.sock || echo unreachable`,
    );
    assert.match(socket.out, /^2750 opendkim postfix\nunreachable$/m, socket.out);

    // The private key is in no job, event or log.
    const secret = readFileSync(join(host.dir, 'private', keyFile), 'utf8')
      .split('\n')
      .slice(1, 3)
      .join('');
    const jobs = JSON.stringify(await db('jobs').select('payload', 'result', 'error'));
    assert.ok(!jobs.includes(secret.slice(0, 40)), 'no private key in the jobs');
    assert.ok(jobs.includes(domain.dkim_public_key), 'the public key is what travelled');
  });

  test('a zone created after the mail domain starts with its MX, SPF, DMARC and DKIM records', async () => {
    const later = 'later-dkim.test';
    await applied(await alice('POST', '/v1/mail/domains', { name: later }));
    const domain = await until('the later domain key stored', async () => {
      const row = await stack.database!.knex('mail_domains').where({ name: later }).first();
      return row.dkim_public_key ? row : undefined;
    });
    assert.deepEqual(await bind.dig(later, 'MX'), [], 'no zone here yet: nothing published');

    await applied(await alice('POST', '/v1/dns/zones', { name: later }));
    // Its first file holds addresses only; the rest follows in one UPDATE once the zone is loaded.
    await until('the MX in BIND', async () => ((await bind.dig(later, 'MX')).length ? true : undefined));
    assert.deepEqual(await bind.dig(later, 'MX'), [`10 ${MX}.`]);
    assert.deepEqual(await bind.dig(later, 'TXT'), ['"v=spf1 mx -all"']);
    assert.deepEqual(await bind.dig(`_dmarc.${later}`, 'TXT'), ['"v=DMARC1; p=quarantine"']);
    const txt = await bind.dig(`up1._domainkey.${later}`, 'TXT');
    assert.equal(txt[0]?.replace(/^"|"$/g, '').split('" "').join(''), `v=DKIM1; k=rsa; p=${domain.dkim_public_key}`);
    const records = (await alice('GET', `/v1/dns/zones/${later}/records`)).body.items as Json[];
    assert.deepEqual(records.map((r) => `${r.name} ${r.type} ${r.managedBy?.kind}:${r.managedBy?.name}`).sort(), [
      '@ MX mail-domain:later-dkim.test',
      '@ TXT mail-domain:later-dkim.test',
      '_dmarc TXT mail-domain:later-dkim.test',
      'up1._domainkey TXT mail-domain:later-dkim.test',
    ]);
    assert.equal((await alice('GET', `/v1/mail/domains/${later}`)).body.recordsManaged, true);

    await applied(await alice('DELETE', `/v1/mail/domains/${later}?force=true`));
    assert.deepEqual(await bind.dig(later, 'MX'), [], 'the records go with the domain');
    await applied(await alice('DELETE', `/v1/dns/zones/${later}`));
  });

  test('mail a mailbox submits is signed d=<domain> s=up1, and verifies against the zone', async () => {
    await applied(await alice('POST', '/v1/mail/boxes', { address: `alice@${ALICE_DOMAIN}`, password: ALICE_PASSWORD }));
    const sent = await submit(`alice@${ALICE_DOMAIN}`, ALICE_PASSWORD, `alice@${ALICE_DOMAIN}`, 'dkim-signed');
    assert.match(sent.out, /250 2\.0\.0 Ok: queued/, sent.out);
    const message = await delivered(`alice@${ALICE_DOMAIN}`, 'dkim-signed');
    const [signature, ...more] = signatures(message);
    assert.ok(signature, message.slice(0, 2000));
    assert.equal(more.length, 0);
    assert.equal(signature.get('d'), ALICE_DOMAIN);
    assert.equal(signature.get('s'), 'up1');
    assert.equal(signature.get('a'), 'rsa-sha256');
    const verdict = await verify(message);
    assert.match(verdict, /verification \(s=up1, d=alice-dkim\.test, 2048-bit key\) succeeded/, verdict);
    assert.match(verdict, /dkim=pass \(2048-bit key; unprotected\) header\.d=alice-dkim\.test /, verdict);
    // A changed body no longer verifies: the verifier really checks.
    const tampered = await verify(message.replace('signed by the host', 'signed by someone else'));
    assert.doesNotMatch(tampered, /succeeded|dkim=pass/, tampered);
    assert.match(tampered, /dkim=fail/, tampered);
  });

  test('only authenticated mail is signed, and only with the login’s own domain', async () => {
    // Port 25, From forged as alice: accepted for her mailbox, never signed.
    const forged = await sendFromOutside(host.address, {
      from: `alice@${ALICE_DOMAIN}`,
      to: `alice@${ALICE_DOMAIN}`,
      subject: 'forged-from-outside',
      body: 'x',
    });
    assert.match(forged.out, /250 2\.0\.0 Ok: queued/, forged.out);
    assert.deepEqual(signatures(await delivered(`alice@${ALICE_DOMAIN}`, 'forged-from-outside')), []);

    // Bob, a tenant of the same host, writes alice's From: his own domain signs it, never hers.
    await applied(await bob('POST', '/v1/mail/domains', { name: BOB_DOMAIN }));
    await applied(await bob('POST', '/v1/mail/boxes', { address: `bob@${BOB_DOMAIN}`, password: BOB_PASSWORD }));
    const spoof = await submit(`bob@${BOB_DOMAIN}`, BOB_PASSWORD, `alice@${ALICE_DOMAIN}`, 'spoofed-by-bob', [
      '--header',
      `From: alice@${ALICE_DOMAIN}`,
    ]);
    assert.match(spoof.out, /250 2\.0\.0 Ok: queued/, spoof.out);
    const domains = signatures(await delivered(`alice@${ALICE_DOMAIN}`, 'spoofed-by-bob')).map((s) => s.get('d'));
    assert.deepEqual(domains, [BOB_DOMAIN]);
    // Bob's zone is not hosted here: his record is shown for him to publish.
    const shown = await until('bob’s key stored', async () => {
      const body = (await bob('GET', `/v1/mail/domains/${BOB_DOMAIN}`)).body;
      return body.records.some((r: Json) => r.name === `up1._domainkey.${BOB_DOMAIN}`) ? body : undefined;
    });
    assert.equal(shown.recordsManaged, false);
    const dkim = shown.records.find((r: Json) => r.name === `up1._domainkey.${BOB_DOMAIN}`).data;
    assert.match(dkim, /^"v=DKIM1; k=rsa; p=[A-Za-z0-9+/]+=*"$/);
    assert.deepEqual(await bind.dig(`up1._domainkey.${BOB_DOMAIN}`, 'TXT'), [], 'no zone of his here: nothing published');
  });

  test('opendkim’s tables hold validated names only; hostile names are refused before them', async () => {
    for (const name of [
      `x.test\n${ALICE_DOMAIN}`,
      'a b.test',
      '*.evil.test',
      '%.test',
      `evil.test:up1:/etc/shadow`,
      'evil.test,x',
      '../etc.test',
      'Evil.test',
    ])
      assert.equal((await alice('POST', '/v1/mail/domains', { name })).status, 400, JSON.stringify(name));
    const db = stack.database!.knex;
    const rows: { id: string; name: string }[] = await db('mail_domains').orderBy('name').select('id', 'name');
    const keyTable = readFileSync(join(host.dir, 'private/etc/opendkim/key.table'), 'utf8');
    const signingTable = readFileSync(join(host.dir, 'private/etc/opendkim/signing.table'), 'utf8');
    const lines = (xs: string[]) => xs.sort().join('');
    assert.equal(keyTable, lines(rows.map((d) => `${d.id} ${d.name}:up1:/etc/dkimkeys/up/${d.id}.private\n`)));
    assert.equal(signingTable, lines(rows.map((d) => `${d.name} ${d.id}\n`)));
  });

  test('a stopped opendkim is a problem of the health check; the repair starts it and mail is signed again', async () => {
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
    assert.equal((await check()).healthy, true);
    const pidFile = join(host.dir, 'private/run/opendkim/opendkim.pid');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    process.kill(pid, 'SIGTERM');
    await until('opendkim stopped', async () => {
      try {
        process.kill(pid, 0);
        return undefined;
      } catch {
        return true;
      }
    });
    // Mail still flows meanwhile, unsigned (milter_default_action = accept).
    const unsigned = await submit(`bob@${BOB_DOMAIN}`, BOB_PASSWORD, `bob@${BOB_DOMAIN}`, 'while-opendkim-was-down');
    assert.match(unsigned.out, /250 2\.0\.0 Ok: queued/, unsigned.out);
    assert.deepEqual(signatures(await delivered(`bob@${BOB_DOMAIN}`, 'while-opendkim-was-down')), []);
    const broken = await check();
    assert.deepEqual(
      broken.problems.map((p: Json) => p.cause),
      ['opendkim-stopped'],
    );
    const repaired = (await healthRepairHandler.run(last.payload, ctx)) as Json;
    assert.deepEqual(repaired.started, ['opendkim']);
    assert.deepEqual(repaired.dkim, [], 'no key was made again: the gateway holds them all');
    assert.equal((await check()).healthy, true);
    const signed = await submit(`bob@${BOB_DOMAIN}`, BOB_PASSWORD, `bob@${BOB_DOMAIN}`, 'after-the-repair');
    assert.match(signed.out, /250 2\.0\.0 Ok: queued/, signed.out);
    assert.deepEqual(
      signatures(await delivered(`bob@${BOB_DOMAIN}`, 'after-the-repair')).map((s) => s.get('d')),
      [BOB_DOMAIN],
    );
  });

  test('deleting a domain removes its key from the host and its record from the zone; others keep theirs', async () => {
    const db = stack.database!.knex;
    const { id } = await db('mail_domains').where({ name: ALICE_DOMAIN }).first('id');
    await applied(await alice('DELETE', `/v1/mail/domains/${ALICE_DOMAIN}?force=true`));
    const keysDir = join(host.dir, 'private/etc/dkimkeys/up');
    assert.deepEqual(
      readdirSync(keysDir).filter((f) => f.startsWith(id)),
      [],
    );
    assert.equal(readdirSync(keysDir).filter((f) => f.endsWith('.private')).length, 1, "bob's key stays");
    assert.deepEqual(await bind.dig(`up1._domainkey.${ALICE_DOMAIN}`, 'TXT'), []);
    assert.ok(!readFileSync(join(host.dir, 'private/etc/opendkim/key.table'), 'utf8').includes(ALICE_DOMAIN));
    // Bob's key and signature stay.
    const sent = await submit(`bob@${BOB_DOMAIN}`, BOB_PASSWORD, `bob@${BOB_DOMAIN}`, 'still-signed');
    assert.match(sent.out, /250 2\.0\.0 Ok: queued/, sent.out);
    assert.deepEqual(
      signatures(await delivered(`bob@${BOB_DOMAIN}`, 'still-signed')).map((s) => s.get('d')),
      [BOB_DOMAIN],
    );
  });
});
