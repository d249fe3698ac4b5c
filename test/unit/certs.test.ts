/**
 * The pure pieces of certificates: the certbot command (names as quoted words, the CA from
 * the settings, the secret never on it), what certbot's failure means, and when a
 * certificate is due again.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { certbotDirs, certbotFailure, certonlyCommand } from '../../handlers/certificates/certbot.ts';
import { acmeSettings, ConfigError, LETS_ENCRYPT } from '../../lib/config.ts';
import { PermanentError, RetryableError } from '../../lib/errors.ts';
import { CERT_DOMAIN } from '../../queues/certificates/ops.ts';
import { retryDelayMs } from '../../gateway/certificates/renewal.ts';

const host = { name: 'p1', address: '10.0.0.1', port: 22, user: 'root', hostKeySha256: `SHA256:${'A'.repeat(43)}` };
const layout = { group: 'p1', baseDir: '/srv/up/nginx', httpPort: 80, nginxUser: 'www-data', ipv6: false };
const payload = {
  certificate: { id: '01234567-89ab-4cde-8f01-23456789abcd', name: 'site-shop-alice' },
  names: ['shop.example.com', 'www.shop.example.com'],
  challenge: 'http-01' as const,
  issuer: { host, layout },
  members: [{ host, layout }],
  dns: null,
};
const acme = { directory: 'https://acme.test/dir', caBundleFile: '/etc/lab-ca.pem', email: null, dnsPropagationSeconds: 1 };

describe('certbot command', () => {
  it('HTTP-01 through the webroot, our own directories, the configured CA, names as words', () => {
    const text = certonlyCommand(payload, certbotDirs('/srv/up/nginx'), acme, false).text;
    assert.match(
      text,
      /REQUESTS_CA_BUNDLE=\/srv\/up\/nginx\/certbot\/ca-bundle\.pem certbot certonly --non-interactive --agree-tos --register-unsafely-without-email/,
    );
    assert.match(
      text,
      /--server https\\:\/\/acme\.test\/dir --config-dir \/srv\/up\/nginx\/certbot\/config --work-dir \/srv\/up\/nginx\/certbot\/work --logs-dir \/srv\/up\/nginx\/certbot\/logs/,
    );
    assert.match(
      text,
      /--cert-name site-shop-alice --keep-until-expiring --webroot -w \/srv\/up\/nginx\/acme -d shop\.example\.com -d www\.shop\.example\.com/,
    );
  });

  it('DNS-01 names the credentials file, never the secret; a renewal forces a new certificate; a wildcard is one quoted word', () => {
    const dns = {
      ...payload,
      challenge: 'dns-01' as const,
      names: ['*.p1.example.net', 'p1.example.net'],
      dns: { address: '10.0.0.53', port: 53, keyName: 'up-key', algorithm: 'hmac-sha256' as const },
    };
    const text = certonlyCommand(dns, certbotDirs('/srv/up/nginx'), { ...acme, email: 'ops@example.net' }, true).text;
    assert.match(text, /--email ops\\@example\.net/);
    assert.match(
      text,
      /--force-renewal --authenticator dns-rfc2136 --dns-rfc2136-credentials \/srv\/up\/nginx\/certbot\/rfc2136-site-shop-alice\.ini --dns-rfc2136-propagation-seconds 1/,
    );
    assert.match(text, /-d \\\*\.p1\.example\.net -d p1\.example\.net/);
    assert.doesNotMatch(text, /secret/);
  });

  it('names on a certificate: domains and one leading wildcard label, nothing else', () => {
    const re = new RegExp(CERT_DOMAIN);
    for (const ok of ['example.com', '*.p1.example.net', 'xn--caf-dma.example']) assert.ok(re.test(ok), ok);
    for (const bad of ['*.*.example.com', 'a.*.example.com', 'example.com;rm -rf /', '-x.example.com', 'example.com\n'])
      assert.ok(!re.test(bad), bad);
  });
});

describe("certbot's failures", () => {
  it("the CA's verdict is permanent and carries its Type/Detail lines", () => {
    const output = [
      'Saving debug log to /srv/up/nginx/certbot/logs/letsencrypt.log',
      'Certbot failed to authenticate some domains (authenticator: webroot). The Certificate Authority reported these problems:',
      '  Domain: bad.example.com',
      '  Type:   unauthorized',
      '  Detail: 10.0.0.9: Invalid response from http://bad.example.com/.well-known/acme-challenge/x: 404',
    ].join('\n');
    const error = certbotFailure(output);
    assert.ok(error instanceof PermanentError);
    assert.match(error.message, /Domain: bad\.example\.com Type: {3}unauthorized Detail: 10\.0\.0\.9: Invalid response/);
  });

  it('a refused DNS update is permanent; an unreachable CA is retryable', () => {
    assert.ok(certbotFailure('Encountered error adding TXT record: Received response from server: NOTAUTH') instanceof PermanentError);
    const down = certbotFailure(
      "An unexpected error occurred:\nrequests.exceptions.ConnectionError: HTTPSConnectionPool(host='acme.test', port=443)",
    );
    assert.ok(down instanceof RetryableError);
    assert.match(down.message, /An unexpected error occurred/);
  });
});

describe('settings and schedule', () => {
  it("Let's Encrypt by default; a wrong value names its variable", () => {
    assert.equal(acmeSettings({}).directory, LETS_ENCRYPT);
    assert.equal(acmeSettings({}).dnsPropagationSeconds, 30);
    assert.throws(
      () => acmeSettings({ UP_ACME_DIRECTORY: 'http://acme.test/dir' }),
      (e: Error) => e instanceof ConfigError && /UP_ACME_DIRECTORY/.test(e.message),
    );
    assert.throws(() => acmeSettings({ UP_ACME_CA_BUNDLE: 'ca.pem' }), /UP_ACME_CA_BUNDLE/);
    assert.throws(() => acmeSettings({ UP_ACME_EMAIL: 'not mail' }), /UP_ACME_EMAIL/);
  });

  it('retries back off, doubling per failure, at most a day', () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => retryDelayMs(n, 1_000)),
      [1_000, 2_000, 4_000, 8_000],
    );
    assert.equal(retryDelayMs(30, 43_200_000), 86_400_000);
  });
});
