import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, SECRET_VARIABLES, loadClientConfig, loadConfig } from '../../lib/config.ts';

test('defaults: embedded database, in-process bus, loopback port 8470', () => {
  const config = loadConfig({ HOME: '/home/x' });
  assert.equal(config.databaseUrl, null);
  assert.equal(config.amqpUrl, null);
  assert.equal(config.httpHost, '127.0.0.1');
  assert.equal(config.httpPort, 8470);
  assert.match(config.dataDir, /\/up$/);
});

test('a bad variable stops the start with a message naming it', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ UP_DATABASE_URL: 'mysql://x' }, /UP_DATABASE_URL must start with postgres:/],
    [{ UP_AMQP_URL: 'not a url' }, /UP_AMQP_URL is not a valid URL/],
    [{ UP_HTTP_PORT: '70000' }, /UP_HTTP_PORT must be an integer between 0 and 65535/],
    [{ UP_HTTP_PORT: '80; rm -rf /' }, /UP_HTTP_PORT/],
    [{ UP_DATA_DIR: 'relative/dir' }, /UP_DATA_DIR must be an absolute path/],
    [{ UP_ADMIN_TOKEN: 'short' }, /UP_ADMIN_TOKEN must be 24 to 256 characters/],
    [{ UP_LOG_LEVEL: 'loud' }, /UP_LOG_LEVEL must be one of/],
    [{ UP_HTTP_HOST: 'host name' }, /UP_HTTP_HOST/],
    [{ UP_ALARM_WEBHOOK_URL: 'ftp://x' }, /UP_ALARM_WEBHOOK_URL must start with http:/],
    [{ UP_TRUST_PROXY: '127.0.0.1,10.0.0.0/33' }, /UP_TRUST_PROXY .*bad entry "10.0.0.0\/33"/],
    [{ UP_TRUST_PROXY: 'everyone' }, /UP_TRUST_PROXY/],
  ];
  for (const [env, message] of cases)
    assert.throws(
      () => loadConfig(env),
      (e) => e instanceof ConfigError && message.test(e.message),
      JSON.stringify(env),
    );
});

test('trusted proxies: addresses and CIDRs of both families', () => {
  assert.deepEqual(loadConfig({ UP_TRUST_PROXY: '127.0.0.1, 10.0.0.0/8,::1,fd00::/8' }).trustProxy, [
    '127.0.0.1',
    '10.0.0.0/8',
    '::1',
    'fd00::/8',
  ]);
  assert.deepEqual(loadConfig({}).trustProxy, []);
});

test('the client finds the gateway from UP_URL, trailing slashes trimmed', () => {
  assert.equal(loadClientConfig({ UP_URL: 'http://gw.example.net:8470/' }).url, 'http://gw.example.net:8470');
  assert.equal(loadClientConfig({}).url, 'http://127.0.0.1:8470');
  assert.throws(() => loadClientConfig({ UP_URL: '::nope' }), /UP_URL is not a valid URL/);
});

test('alarm mail: an SMTP URL and recipients together, or neither', () => {
  assert.equal(loadConfig({ HOME: '/home/x' }).alarmMail, null);
  assert.deepEqual(
    loadConfig({ HOME: '/home/x', UP_ALARM_SMTP_URL: 'smtps://u:p@mail.example.com', UP_ALARM_MAIL_TO: 'a@example.com, b@example.com' })
      .alarmMail,
    {
      smtpUrl: 'smtps://u:p@mail.example.com',
      from: 'up-alarms@localhost.localdomain',
      to: ['a@example.com', 'b@example.com'],
    },
  );
  const cases: [Record<string, string>, RegExp][] = [
    [{ UP_ALARM_MAIL_TO: 'a@example.com' }, /UP_ALARM_SMTP_URL is not/],
    [{ UP_ALARM_SMTP_URL: 'smtp://mail.example.com' }, /UP_ALARM_MAIL_TO/],
    [{ UP_ALARM_SMTP_URL: 'http://mail.example.com', UP_ALARM_MAIL_TO: 'a@example.com' }, /UP_ALARM_SMTP_URL must start with smtp/],
    [{ UP_ALARM_SMTP_URL: 'smtp://mail.example.com', UP_ALARM_MAIL_TO: 'a@example.com,\nBcc: x@evil.test' }, /UP_ALARM_MAIL_TO/],
    [
      { UP_ALARM_SMTP_URL: 'smtp://mail.example.com', UP_ALARM_MAIL_TO: 'a@example.com', UP_ALARM_MAIL_FROM: 'x\r\nBcc: y@evil.test' },
      /UP_ALARM_MAIL_FROM/,
    ],
  ];
  for (const [env, message] of cases)
    assert.throws(
      () => loadConfig({ HOME: '/home/x', ...env }),
      (e) => e instanceof ConfigError && message.test(e.message),
      JSON.stringify(env),
    );
});

describe('secrets as files (<NAME>_FILE): systemd credentials, Kubernetes secret volumes', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'up-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const secret = (name: string, content: string) => {
    const file = join(dir, name);
    writeFileSync(file, content, { mode: 0o600 });
    return file;
  };

  test('every secret-carrying variable is read from its file, the final newline dropped', () => {
    const config = loadConfig({
      HOME: '/home/x',
      UP_ADMIN_TOKEN_FILE: secret('admin-token', 'file-admin-token-0123456789abcdef\n'),
      UP_DATABASE_URL_FILE: secret('database-url', 'postgres://up:pw@db.internal/up\n'),
      UP_AMQP_URL_FILE: secret('amqp-url', 'amqp://up:pw@mq.internal/up'),
      UP_ALARM_SMTP_URL_FILE: secret('smtp-url', 'smtps://u:p@mail.example.com\r\n'),
      UP_ALARM_MAIL_TO: 'ops@example.com',
      UP_ALARM_WEBHOOK_URL_FILE: secret('webhook-url', '  https://hooks.example.com/T0/B0/secret  \n'),
    });
    assert.equal(config.adminToken, 'file-admin-token-0123456789abcdef');
    assert.equal(config.databaseUrl, 'postgres://up:pw@db.internal/up');
    assert.equal(config.amqpUrl, 'amqp://up:pw@mq.internal/up');
    assert.equal(config.alarmMail?.smtpUrl, 'smtps://u:p@mail.example.com');
    assert.equal(config.alarmWebhookUrl, 'https://hooks.example.com/T0/B0/secret');
  });

  test('a value read from a file is checked like the variable itself', () => {
    assert.throws(() => loadConfig({ UP_DATABASE_URL_FILE: secret('mysql', 'mysql://x\n') }), /UP_DATABASE_URL must start with postgres:/);
    assert.throws(() => loadConfig({ UP_ADMIN_TOKEN_FILE: secret('short', 'short\n') }), /UP_ADMIN_TOKEN must be 24 to 256 characters/);
  });

  test('a wrong file stops the start with a message naming the variable and the file, never the content', () => {
    const content = 'postgres://up:TOPSECRET@db/up';
    const cases: [Record<string, string>, RegExp][] = [
      [{ UP_DATABASE_URL_FILE: join(dir, 'missing') }, /^UP_DATABASE_URL_FILE: cannot read .*missing \(ENOENT\)$/],
      [{ UP_DATABASE_URL_FILE: dir }, /^UP_DATABASE_URL_FILE: cannot read .* \(EISDIR\)$/],
      [{ UP_DATABASE_URL_FILE: 'relative/file' }, /^UP_DATABASE_URL_FILE must be an absolute path$/],
      [{ UP_DATABASE_URL_FILE: secret('empty', '\n  \n') }, /^UP_DATABASE_URL_FILE: .*empty is empty$/],
      // WHATWG URL parsing drops line breaks: a second line must not be glued onto the URL.
      [{ UP_DATABASE_URL_FILE: secret('two-lines', `${content}\nextra\n`) }, /^UP_DATABASE_URL_FILE: .* must hold the value on one line$/],
      [
        { UP_DATABASE_URL_FILE: secret('both', `${content}\n`), UP_DATABASE_URL: content },
        /^UP_DATABASE_URL and UP_DATABASE_URL_FILE are both set; keep one$/,
      ],
      [
        { UP_AMQP_URL_FILE: secret('amqp-bad', 'http://up:TOPSECRET@mq/up') },
        /^UP_AMQP_URL must start with amqp:\/\/ or amqps:\/\/ \(got http:\/\/\)$/,
      ],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => loadConfig(env),
        (e) => e instanceof ConfigError && message.test(e.message) && !e.message.includes('TOPSECRET'),
        JSON.stringify(env),
      );
    }
  });

  test('only the secret-carrying variables have a _FILE form', () => {
    assert.deepEqual([...SECRET_VARIABLES].sort(), [
      'UP_ADMIN_TOKEN',
      'UP_ALARM_SMTP_URL',
      'UP_ALARM_WEBHOOK_URL',
      'UP_AMQP_URL',
      'UP_DATABASE_URL',
    ]);
    // A _FILE for anything else is not read: its file is never opened.
    assert.equal(loadConfig({ HOME: '/home/x', UP_LOG_LEVEL_FILE: join(dir, 'missing') }).logLevel, 'info');
  });
});

test('metrics port: off by default; on loopback unless UP_METRICS_HOST says otherwise', () => {
  assert.equal(loadConfig({ HOME: '/home/x' }).metrics, null);
  assert.deepEqual(loadConfig({ HOME: '/home/x', UP_METRICS_PORT: '9470' }).metrics, { host: '127.0.0.1', port: 9470 });
  assert.deepEqual(loadConfig({ HOME: '/home/x', UP_METRICS_PORT: '0', UP_METRICS_HOST: '0.0.0.0' }).metrics, { host: '0.0.0.0', port: 0 });
  assert.throws(() => loadConfig({ UP_METRICS_PORT: '99999' }), /UP_METRICS_PORT must be an integer between 0 and 65535/);
  assert.throws(() => loadConfig({ UP_METRICS_PORT: '9470', UP_METRICS_HOST: 'a b' }), /UP_METRICS_HOST must be a host name or an address/);
});
