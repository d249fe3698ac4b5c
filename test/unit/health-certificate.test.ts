/** How the certificate check reads its probe's output: each finding from what openssl printed on the member. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { judgeCertificate } from '../../handlers/certificates/health.check.certificate/handler.ts';

const dir = mkdtempSync(join(tmpdir(), 'up-hcc-unit-'));
function selfSigned(name: string, days: number): { pem: string; serial: string; fingerprint: string } {
  const out = join(dir, `${name}-${days}.pem`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      String(days),
      '-subj',
      `/CN=${name}`,
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      out,
    ],
    { stdio: 'ignore' },
  );
  const pem = readFileSync(out, 'utf8');
  const x = new X509Certificate(pem);
  return { pem: pem.trim(), serial: x.serialNumber.toLowerCase(), fingerprint: x.fingerprint256 };
}

const recorded = selfSigned('shop.example.test', 90);
const other = selfSigned('shop.example.test', 90);
const expiring = selfSigned('shop.example.test', 10);
const layout = { group: 'p1', baseDir: '/srv/up', httpPort: 80, httpsPort: 443, nginxUser: 'www-data', ipv6: false };
const payload = (cert = recorded) => ({
  layout,
  certificate: {
    id: '01a21598-2e8a-7095-8464-f34b6c0af2b0',
    name: 'site-shop-alice',
    serverName: 'shop.example.test',
    serial: cert.serial,
    fingerprint: cert.fingerprint,
    recordedAt: 1,
  },
  renewBeforeDays: 30,
});
const output = (running: string, installed: string, served: string) => `\nrunning ${running}\ninstalled\n${installed}\nserved\n${served}\n`;
const causes = (r: ReturnType<typeof judgeCertificate>) => r.problems.map((p) => p.cause).sort();

after(() => rmSync(dir, { recursive: true, force: true }));

describe('judgeCertificate', () => {
  test('the recorded certificate, installed and served, far from expiry: no problem', () => {
    const r = judgeCertificate(output('yes', recorded.pem, recorded.pem), payload(), 'h1');
    assert.deepEqual(r.problems, []);
    assert.equal(r.measurements.served, 1);
    assert.equal(r.measurements.recordedAt, 1);
    assert.ok(r.measurements.daysLeft >= 88 && r.measurements.daysLeft <= 90);
  });

  test('another certificate in the file and on the wire: mismatch and not served, naming both serials', () => {
    const r = judgeCertificate(output('yes', other.pem, other.pem), payload(), 'h1');
    assert.deepEqual(causes(r), ['certificate-mismatch', 'certificate-not-served']);
    assert.match(
      r.problems.find((p) => p.cause === 'certificate-not-served')!.message,
      new RegExp(`serial ${other.serial.replace(/^0+/, '')}.*recorded ${recorded.serial.replace(/^0+/, '')}`),
    );
  });

  test('within the renewal window: expiring', () => {
    const r = judgeCertificate(output('yes', expiring.pem, expiring.pem), payload(expiring), 'h1');
    assert.deepEqual(causes(r), ['certificate-expiring']);
  });

  test('past its end date: not valid now', () => {
    const r = judgeCertificate(output('yes', recorded.pem, recorded.pem), payload(), 'h1', new Date(Date.now() + 200 * 86_400_000));
    assert.deepEqual(causes(r), ['certificate-invalid']);
  });

  test('file missing, garbage in the file, nothing on the wire', () => {
    assert.deepEqual(causes(judgeCertificate(output('yes', 'missing', 'none'), payload(), 'h1')), [
      'certificate-missing',
      'certificate-not-served',
    ]);
    assert.deepEqual(causes(judgeCertificate(output('yes', 'unreadable', recorded.pem), payload(), 'h1')), ['certificate-unreadable']);
    assert.deepEqual(
      causes(
        judgeCertificate(output('yes', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', recorded.pem), payload(), 'h1'),
      ),
      ['certificate-unreadable'],
    );
  });

  test("nginx stopped: the proxy's problem, not a served-certificate finding", () => {
    assert.deepEqual(causes(judgeCertificate(output('no', recorded.pem, 'none'), payload(), 'h1')), ['proxy-down']);
  });
});
