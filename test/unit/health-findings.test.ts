import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  failedLoginsBySource,
  failedMailLoginsByAccount,
  lineTime,
  offsetMinutes,
  parseListeners,
  unexplainedPorts,
} from '../../handlers/hosts/health.check.security/findings.ts';
import { judgeSecurity } from '../../handlers/hosts/health.check.security/handler.ts';
import { judgeWebsite } from '../../handlers/websites/health.check.website/handler.ts';

const NOW = new Date('2026-11-26T12:00:00Z');

describe('security findings', () => {
  test('failed logins are counted per source within the window, whatever the log format', () => {
    const lines = [
      '2026-11-26T11:58:00.123456+00:00 web1 sshd[1]: Failed password for root from 192.0.2.7 port 4242 ssh2',
      '2026-11-26T11:59:00+00:00 web1 sshd[1]: Failed password for invalid user admin from 192.0.2.7 port 4243 ssh2',
      '2026-11-26T10:00:00+00:00 web1 sshd[1]: Failed password for root from 192.0.2.7 port 4244 ssh2', // outside 15 min
      'Nov 26 12:55:00 web1 sshd[2]: Invalid user oracle from 2001:db8::9 port 50000', // host at +0100: 11:55 UTC
      'Failed publickey for root from 10.77.11.1 port 42460 ssh2: ED25519 SHA256:x', // sshd -E: no time, counted
      'Accepted publickey for root from 10.77.11.1 port 42461 ssh2',
      'Connection closed by authenticating user root 10.77.11.1 port 42460 [preauth]',
    ];
    const counts = failedLoginsBySource(lines, NOW, 60, 15);
    assert.deepEqual(
      [...counts],
      [
        ['192.0.2.7', 2],
        ['2001:db8::9', 1],
        ['10.77.11.1', 1],
      ],
    );
  });

  test("failed mail logins are counted per account from dovecot's log, within the window; hostile names are left out", () => {
    const lines = [
      'Nov 26 11:58:00 auth: Info: passwd-file(alice@example.test,192.0.2.7,<AbC+dEf>): Password mismatch',
      'Nov 26 11:59:00 auth: Info: passwd-file(Alice@Example.test,192.0.2.8,<x>): Password mismatch',
      'Nov 26 11:59:30 auth-worker(42): Info: passwd-file(nobody@example.test,192.0.2.7): unknown user',
      'Nov 26 10:00:00 auth: Info: passwd-file(alice@example.test,192.0.2.7,<y>): Password mismatch', // outside 15 min
      'Nov 26 11:59:40 auth: Info: passwd-file(evil$(reboot)@example.test,192.0.2.7,<z>): unknown user',
      'Nov 26 11:59:50 imap-login: Info: Login: user=<bob@example.test>, method=PLAIN, rip=192.0.2.9',
      'Nov 26 11:59:55 auth: Info: passwd-file(bob@example.test,192.0.2.9,<w>): Password mismatch',
      // One login asked two password databases: one failure.
      'Nov 26 11:59:56 auth: Info: passwd-file(bob@example.test,192.0.2.9,<v>): Password mismatch',
      'Nov 26 11:59:56 auth: Info: passwd-file(bob@example.test,192.0.2.9,<v>): unknown user',
      // up's own probe, asked of the tenants' database first on its way to its own: not a failure.
      'Nov 26 11:59:57 auth: Info: passwd-file(up-probe,127.0.0.1,<p>): unknown user',
    ];
    assert.deepEqual(
      [...failedMailLoginsByAccount(lines, NOW, 0, 15, ['up-probe'])],
      [
        ['alice@example.test', 2],
        ['nobody@example.test', 1],
        ['bob@example.test', 2],
      ],
    );
  });

  test('syslog stamps take the host zone and roll back a year in January', () => {
    assert.equal(lineTime('Nov 26 13:00:00 h sshd: x', NOW, 60), Date.parse('2026-11-26T12:00:00Z'));
    assert.equal(lineTime('Dec 31 23:59:59 h sshd: x', new Date('2027-01-01T00:10:00Z'), 0), Date.parse('2026-12-31T23:59:59Z'));
    assert.equal(lineTime('no time here', NOW, 0), null);
    assert.equal(offsetMinutes('-0530'), -330);
  });

  test("listeners: loopback is the host's business, roles and labels explain the rest", () => {
    const listeners = parseListeners([
      '10.0.0.5:22',
      '0.0.0.0:80',
      '[::]:443',
      '*:4444',
      '127.0.0.1:5432',
      '[::1]:6379',
      '127.0.0.53%lo:53',
      'garbage',
    ]);
    assert.deepEqual(
      listeners.map((l) => l.port),
      [22, 80, 443, 4444, 5432, 6379, 53],
    );
    assert.deepEqual(unexplainedPorts(listeners, [22, 80]), [443, 4444]);
  });

  test('the probe output becomes one problem per cause, naming what it found', () => {
    const payload = {
      resource: { type: 'security', key: 'web1' },
      host: { name: 'web1', address: '10.0.0.5', port: 22, user: 'root', hostKeySha256: 'x' },
      authLog: '/var/log/auth.log',
      windowMinutes: 15,
      failedLogins: 2,
      allowedPorts: [22],
      dirs: { homes: '/home', docRoots: [] },
      securityUpdates: 1,
    };
    const output = [
      '== clock',
      '1795694400 +0000',
      '== auth',
      'Failed publickey for root from 10.9.9.9 port 1 ssh2',
      'Invalid user x from 10.9.9.9 port 2',
      'Invalid user y from 10.8.8.8 port 3',
      '== listen',
      '10.0.0.5:22',
      '0.0.0.0:8080',
      '== files',
      'ww /home/up-bob/notes.txt',
      'owner /home/up-bob/planted',
      '== apt',
      'Listing...',
      'openssl/stable-security 3.0.15 amd64 [upgradable from: 3.0.14]',
      'libc6/stable-security 2.36-9 amd64 [upgradable from: 2.36-8]',
      'vim/stable 9.0 amd64 [upgradable from: 8.2]',
    ].join('\n');
    const { problems, measurements } = judgeSecurity(output, payload as never, 'web1');
    assert.deepEqual(
      problems.map((p) => p.cause),
      ['ssh-failed-logins', 'unexplained-ports', 'unsafe-files', 'security-updates'],
    );
    assert.match(problems[0].message, /from 10\.9\.9\.9 \(2\) \(threshold 2\)$/);
    assert.doesNotMatch(problems[0].message, /10\.8\.8\.8/);
    assert.match(problems[1].message, /: 8080$/);
    assert.equal(
      problems[2].message,
      'unsafe files of tenants on web1: writable by others: /home/up-bob/notes.txt; not owned by their tenant: /home/up-bob/planted',
    );
    assert.match(problems[3].message, /^2 security updates pending on web1 \(threshold 1\): openssl, libc6$/);
    assert.equal(measurements.securityUpdates, 2);
    assert.equal(measurements.failedMailLogins, undefined, 'not a mail host');
  });

  test('on a mail host, an account with failed logins at the threshold is named; one below it is not', () => {
    const payload = {
      resource: { type: 'security', key: 'mx1' },
      host: { name: 'mx1', address: '10.0.0.6', port: 22, user: 'root', hostKeySha256: 'x' },
      authLog: '/var/log/auth.log',
      windowMinutes: 15,
      failedLogins: 10,
      mailAuth: { log: '/var/log/dovecot.log', windowMinutes: 15, failedLogins: 3 },
      allowedPorts: [22],
      dirs: { homes: '/home', docRoots: [] },
      securityUpdates: null,
    };
    const failure = (account: string, session: number) =>
      `Nov 26 11:59:00 auth: Info: passwd-file(${account},10.9.9.9,<s${session}>): Password mismatch`;
    const output = [
      '== clock',
      '1795694400 +0000',
      '== auth',
      '== mail-auth',
      ...[1, 2, 3].map((n) => failure('alice@example.test', n)),
      failure('bob@example.test', 4),
      '== listen',
      '10.0.0.6:22',
    ].join('\n');
    const { problems, measurements } = judgeSecurity(output, payload as never, 'mx1');
    assert.deepEqual(problems, [
      {
        cause: 'mail-failed-logins',
        message: 'failed mail logins on mx1 within 15 min for alice@example.test (3) (threshold 3)',
      },
    ]);
    assert.equal(measurements.failedMailLogins, 4);
  });
});

describe('website findings', () => {
  const layout = { group: 'p1', baseDir: '/srv/up/nginx', httpPort: 80, nginxUser: 'www-data', ipv6: false };
  const site = { id: '0190a1b2-0000-7000-8000-0000000000a1', key: 'shop-alice', generation: 3, tempDomain: 'shop-alice.p1.example' };
  const probe = (vhost: string, answer: string) => `running yes\nvhost ${vhost}\nanswer\n${answer}`;

  test('the current vhost and a real answer (even a 403 of an empty site) are healthy', () => {
    assert.deepEqual(
      judgeWebsite(
        probe(`# up website ${site.id} generation 3 (written by up; edits are overwritten)`, '<h1>shop</h1>\nup-status 200\n'),
        { layout, site },
        'h1',
      ).problems,
      [],
    );
    assert.deepEqual(
      judgeWebsite(probe(`# up website ${site.id} generation 4 (written by up)`, 'forbidden\nup-status 403\n'), { layout, site }, 'h1')
        .problems,
      [],
    );
  });

  test("a missing vhost, the default server's 404, another site's file, a 502 are problems", () => {
    const missing = judgeWebsite(probe('missing', 'no such site\n\nup-status 404\n'), { layout, site }, 'h1').problems;
    assert.deepEqual(
      missing.map((p) => p.cause),
      ['vhost-missing', 'not-served'],
    );
    const foreign = judgeWebsite(
      probe('# up website 0190a1b2-0000-7000-8000-0000000000ff generation 9 (x)', 'x\nup-status 502\n'),
      { layout, site },
      'h1',
    ).problems;
    assert.deepEqual(
      foreign.map((p) => p.cause),
      ['vhost-stale', 'server-error'],
    );
  });

  test('a stopped nginx is reported as the proxy being down, nothing the site could repair', () => {
    const { problems } = judgeWebsite(
      `running no\nvhost # up website ${site.id} generation 3 (x)\nanswer\n\nup-status 000\n`,
      { layout, site },
      'h1',
    );
    assert.deepEqual(
      problems.map((p) => p.cause),
      ['proxy-down'],
    );
  });
});
