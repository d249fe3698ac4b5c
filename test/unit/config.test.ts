import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadClientConfig, loadConfig } from '../../lib/config.ts';

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
  for (const [env, message] of cases) assert.throws(() => loadConfig(env), (e) => e instanceof ConfigError && message.test(e.message), JSON.stringify(env));
});

test('trusted proxies: addresses and CIDRs of both families', () => {
  assert.deepEqual(loadConfig({ UP_TRUST_PROXY: '127.0.0.1, 10.0.0.0/8,::1,fd00::/8' }).trustProxy, ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8']);
  assert.deepEqual(loadConfig({}).trustProxy, []);
});

test('the client finds the gateway from UP_URL, trailing slashes trimmed', () => {
  assert.equal(loadClientConfig({ UP_URL: 'http://gw.example.net:8470/' }).url, 'http://gw.example.net:8470');
  assert.equal(loadClientConfig({}).url, 'http://127.0.0.1:8470');
  assert.throws(() => loadClientConfig({ UP_URL: '::nope' }), /UP_URL is not a valid URL/);
});

test('alarm mail: an SMTP URL and recipients together, or neither', () => {
  assert.equal(loadConfig({ HOME: '/home/x' }).alarmMail, null);
  assert.deepEqual(loadConfig({ HOME: '/home/x', UP_ALARM_SMTP_URL: 'smtps://u:p@mail.example.com', UP_ALARM_MAIL_TO: 'a@example.com, b@example.com' }).alarmMail, {
    smtpUrl: 'smtps://u:p@mail.example.com', from: 'up-alarms@localhost.localdomain', to: ['a@example.com', 'b@example.com'],
  });
  const cases: [Record<string, string>, RegExp][] = [
    [{ UP_ALARM_MAIL_TO: 'a@example.com' }, /UP_ALARM_SMTP_URL is not/],
    [{ UP_ALARM_SMTP_URL: 'smtp://mail.example.com' }, /UP_ALARM_MAIL_TO/],
    [{ UP_ALARM_SMTP_URL: 'http://mail.example.com', UP_ALARM_MAIL_TO: 'a@example.com' }, /UP_ALARM_SMTP_URL must start with smtp/],
    [{ UP_ALARM_SMTP_URL: 'smtp://mail.example.com', UP_ALARM_MAIL_TO: 'a@example.com,\nBcc: x@evil.test' }, /UP_ALARM_MAIL_TO/],
    [{ UP_ALARM_SMTP_URL: 'smtp://mail.example.com', UP_ALARM_MAIL_TO: 'a@example.com', UP_ALARM_MAIL_FROM: 'x\r\nBcc: y@evil.test' }, /UP_ALARM_MAIL_FROM/],
  ];
  for (const [env, message] of cases) assert.throws(() => loadConfig({ HOME: '/home/x', ...env }), (e) => e instanceof ConfigError && message.test(e.message), JSON.stringify(env));
});
