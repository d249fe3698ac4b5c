import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { labHosts, type Lab } from '../helpers/lab-hosts.ts';
import { runUp } from '../helpers/processes.ts';
import { labSmtp, type LabSmtp } from '../helpers/smtp.ts';
import { startStack, TEST_TOKEN } from '../helpers/stack.ts';
import { eventually } from '../helpers/eventually.ts';
import { webhookReceiver } from '../helpers/webhook.ts';

const run = promisify(execFile);
const LAB = { prefix: 'up-health', subnet: '10.77.8', bridge: 'uplab8' };

/** The health daemon against a real host: it breaks, is alarmed once, recovers, is cleared. */
describe('health checks, alarms, the webhook and mail', () => {
  let lab: Lab;
  let stack: Awaited<ReturnType<typeof startStack>>;
  let webhook: Awaited<
    ReturnType<typeof webhookReceiver<{ event: string; alarm: { cause: string; resource: { key: string }; count: number } }>>
  >;
  let smtp: LabSmtp;

  const api = async (url: string) => (await stack.app!.inject({ method: 'GET', url, headers: stack.auth })).json();
  const hostHealth = async () => (await api('/v1/health?type=host&history=true')).items[0];
  const until = <T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000) =>
    eventually(what, probe, { timeoutMs });

  before(async () => {
    lab = await labHosts(1, LAB);
    webhook = await webhookReceiver<{ event: string; alarm: { cause: string; resource: { key: string }; count: number } }>();
    // The mail server is not up yet: alarm mail must wait for it, not be lost.
    smtp = await labSmtp();
    process.env.UP_SSH_KEY_FILE = lab.hosts[0].privateKeyFile;
    stack = await startStack({
      env: {
        UP_HEALTH_INTERVAL_MS: '600',
        UP_ALARM_WEBHOOK_URL: webhook.url,
        UP_ALARM_SMTP_URL: smtp.url,
        UP_ALARM_MAIL_TO: 'ops@example.test',
        UP_ALARM_MAIL_FROM: 'up@example.test',
      },
    });
    const h = lab.hosts[0];
    await stack.database!.knex('hosts').insert({
      id: '0190a1b2-0000-7000-8000-0000000000a1',
      name: 'web1',
      address: h.address,
      port: h.port,
      ssh_user: h.user,
      host_key_sha256: h.hostKeySha256,
      // The test machine is busy: judge this host by reachability, not by its load.
      labels: JSON.stringify({ 'health.load-per-cpu': '1000' }),
    });
  });

  after(async () => {
    await stack?.shutdown();
    webhook?.close();
    await smtp?.down();
    await lab?.down();
  });

  test('a reachable host is healthy, with its measurements', async () => {
    const health = await until('the first check', async () => (await hostHealth())?.state === 'healthy' && hostHealth());
    assert.equal(health.resource.key, 'web1');
    assert.deepEqual(health.problems, []);
  });

  test('a host that stops answering: degraded, then failed with exactly one alarm; later failures only count', async () => {
    // Everything in the lab host's namespace dies: sshd and the sessions our pool holds.
    const { stdout } = await run('ip', ['netns', 'pids', lab.hosts[0].namespace]);
    for (const pid of stdout.split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');

    await until('degraded', async () => (await hostHealth()).state === 'degraded');
    const failed = await until('failed', async () => ((await hostHealth()).state === 'failed' ? hostHealth() : false));
    assert.equal(failed.problems[0].cause, 'unreachable');

    const alarms = await until('the alarm', async () => {
      const items = (await api('/v1/alarms')).items;
      return items.length > 0 && items;
    });
    assert.equal(alarms.length, 1);
    assert.equal(alarms[0].cause, 'unreachable');
    assert.match(alarms[0].message, /cannot reach web1/);

    const firstCount = alarms[0].count;
    await until('more failing checks', async () => (await api('/v1/alarms')).items[0].count >= firstCount + 2);
    assert.equal((await api('/v1/alarms')).items.length, 1, 'still one alarm');
    await until('the webhook delivery', async () => webhook.received.length >= 1);
    await sleep(500);
    assert.deepEqual(
      webhook.received.map((r) => r.event),
      ['raised'],
      'the webhook got the alarm once',
    );
    assert.equal(webhook.received[0].alarm.resource.key, 'web1');

    const cli = await runUp(['alarms', 'list', '--json'], { UP_URL: stack.url!, UP_TOKEN: TEST_TOKEN });
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(JSON.parse(cli.stdout).items[0].cause, 'unreachable');
  });

  test('alarm mail sent while the SMTP server was down arrives once it is up, exactly once', async () => {
    assert.deepEqual(smtp.messages(), []);
    await smtp.start();
    const [mail] = await until('the alarm mail', async () => smtp.messages().length > 0 && smtp.messages(), 40_000);
    assert.equal(mail.subject, '[up] ALARM: unreachable on host web1');
    assert.equal(mail.to, 'ops@example.test');
    assert.equal(mail.from, 'up@example.test');
    assert.match(mail.body, /cannot reach web1/);
    await sleep(1_500);
    assert.equal(smtp.messages().length, 1, 'one mail for one alarm, however many failing checks');
  });

  test('when the host answers again it is healthy, the alarm clears and the webhook hears it', async () => {
    await labHosts(1, LAB); // hosts.sh up is idempotent: it starts the missing sshd again
    await until('healthy again', async () => (await hostHealth()).state === 'healthy', 40_000);
    assert.deepEqual((await api('/v1/alarms')).items, []);
    const cleared = (await api('/v1/alarms?status=cleared')).items;
    assert.equal(cleared.length, 1);
    await until('the cleared delivery', async () => webhook.received.some((r) => r.event === 'cleared'));
    assert.deepEqual(
      webhook.received.map((r) => r.event),
      ['raised', 'cleared'],
    );
    await until('the cleared mail', async () => smtp.messages().length === 2);
    assert.equal(smtp.messages()[1].subject, '[up] cleared: unreachable on host web1');

    const history = (await hostHealth()).history.map((h: { state: string }) => h.state).reverse();
    assert.deepEqual(history, ['healthy', 'degraded', 'failed', 'healthy']);
  });

  test('acknowledging an alarm records who', async () => {
    const [alarm] = (await api('/v1/alarms?status=all')).items;
    const res = await stack.app!.inject({ method: 'POST', url: `/v1/alarms/${alarm.id}/ack`, headers: stack.auth });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().ackedBy, 'admin');
  });
});
