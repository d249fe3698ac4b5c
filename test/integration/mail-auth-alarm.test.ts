/**
 * Failed mail logins feed the security monitoring: real IMAP logins with a wrong password (and
 * one SMTP AUTH on submission) against a lab mail host; the security check counts them per mail
 * account in dovecot's log and alarms above the host's threshold, naming the account; another
 * account with one failure is not named. The alarm clears once the log no longer holds them.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../helpers/eventually.ts';
import { labHosts, registerLabHost, type Lab, type LabHost } from '../helpers/lab-hosts.ts';
import { imap, installMailCertificate, MAIL_PRIVATE_DIRS, swaks } from '../helpers/mail.ts';
import { stackApi, type Json } from '../helpers/stack-api.ts';
import { startStack } from '../helpers/stack.ts';
import { tenantsWithTokens } from '../helpers/tenants.ts';

const LAB = { prefix: 'up-mb', subnet: '10.77.74', bridge: 'uplab74' };
const MX = 'mx1.auth-alarm.test';
const DOMAIN = 'auth-alarm.test';
const TENANT = 'mailwatch';

describe('failed mail logins per account raise a security alarm', { timeout: 240_000 }, () => {
  let lab: Lab;
  let host: LabHost;
  let stack: Awaited<ReturnType<typeof startStack>>;
  let cert: Awaited<ReturnType<typeof installMailCertificate>>;
  let tokens: Record<string, string> = {};
  const { api, succeeded } = stackApi(() => stack, tokens);
  const admin = api('admin');
  const alarm = async (cause: string) => ((await admin('GET', '/v1/alarms')).body.items as Json[]).find((a) => a.cause === cause);
  const explain = async () =>
    `health: ${JSON.stringify(((await admin('GET', '/v1/health?type=security')).body.items as Json[]).map((h) => [h.state, h.problems, h.measurements]))}`;

  before(async () => {
    lab = await labHosts(1, { ...LAB, privateDirs: MAIL_PRIVATE_DIRS });
    host = lab.hosts[0];
    truncateSync(host.logFile);
    cert = await installMailCertificate(host, MX);
    process.env.UP_SSH_KEY_FILE = host.privateKeyFile;
    stack = await startStack({ env: { UP_HEALTH_INTERVAL_MS: '1000' } });
    const db = stack.database!.knex;
    await registerLabHost(db, host, ['mail']);
    await db('hosts')
      .where({ name: host.name })
      .update({
        labels: JSON.stringify({
          'mail.hostname': MX,
          'health.mail-failed-logins': '4',
          'health.auth-log': host.logFile,
          'health.tenant-homes': join(host.dir, 'home'),
          'health.load-per-cpu': '1000',
          'health.disk-percent': '100',
          'health.memory-percent': '100',
        }),
      });
    tokens = Object.assign(tokens, await tenantsWithTokens(db, [TENANT]));
    const tenant = api(TENANT);
    await succeeded(await tenant('POST', '/v1/mail/domains', { name: DOMAIN }), TENANT);
    for (const user of ['alice', 'bob'])
      await succeeded(await tenant('POST', '/v1/mail/boxes', { address: `${user}@${DOMAIN}`, password: `right-${randomUUID()}` }), TENANT);
  });

  after(async () => {
    await stack?.shutdown();
    await lab?.down();
    if (cert) rmSync(cert.dir, { recursive: true, force: true });
  });

  test('wrong passwords over IMAP and SMTP AUTH: an alarm naming the account; one failure of another names nothing', async () => {
    const server = { address: host.address, name: MX, ca: cert.ca };
    // Submission's SASL is dovecot's too: one failure comes through postfix (first: dovecot delays
    // each further failure from one address more, past postfix's patience).
    const smtp = await swaks([
      ...['--server', host.address, '--port', '587', '--tls', '--tls-verify', '--tls-ca-path', cert.ca, '--tls-sni', MX],
      ...['--auth', 'PLAIN', '--auth-user', `alice@${DOMAIN}`, '--auth-password', 'wrong-smtp'],
      ...['--from', `alice@${DOMAIN}`, '--to', `bob@${DOMAIN}`],
    ]);
    assert.match(smtp.out, /<~\* +535 /, smtp.out);
    for (let i = 0; i < 3; i++) {
      const answer = await imap('read', server, `alice@${DOMAIN}`, `wrong-${i}`);
      assert.equal(answer.ok, false);
      assert.match(answer.error!, /AUTHENTICATIONFAILED/);
    }
    const once = await imap('read', server, `bob@${DOMAIN}`, 'wrong');
    assert.equal(once.ok, false);

    const raised = await eventually('the mail login alarm', () => alarm('mail-failed-logins'), { timeoutMs: 60_000, explain });
    assert.equal(raised.resource.type, 'security');
    assert.equal(raised.resource.key, host.name);
    assert.equal(raised.message, `failed mail logins on ${host.name} within 15 min for alice@${DOMAIN} (4) (threshold 4)`);
    assert.doesNotMatch(raised.message, /bob@/);
    assert.equal(await alarm('ssh-failed-logins'), undefined);

    truncateSync(join(host.dir, 'private/var/log/dovecot.log')); // rotated
    await eventually('the mail login alarm cleared', async () => !(await alarm('mail-failed-logins')), { timeoutMs: 60_000, explain });
  });
});
