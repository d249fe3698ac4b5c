/**
 * The pure pieces of service certificates: the message (both shapes on cert.issue/cert.renew,
 * hostile directories refused), the lineage name, the host labels that move the directories,
 * and the per-service table.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SERVICE_TLS, serviceFiles } from '../../handlers/certificates/service.ts';
import { serviceDirs } from '../../gateway/certificates/service.ts';
import type { HostRow } from '../../gateway/hosts/store.ts';
import { certIssue, certRenew } from '../../queues/certificates/ops.ts';
import { CERT_SERVICES, serviceCertName, serviceOfCertName } from '../../queues/certificates/service.ts';
import { validator } from '../../queues/validate.ts';

const host = { name: 'db1', address: '10.0.0.5', port: 22, user: 'root', hostKeySha256: `SHA256:${'A'.repeat(43)}` };
const service = {
  certificate: { id: '01234567-89ab-4cde-8f01-23456789abcd', name: 'service-postgresql' },
  names: ['db1.example.com'],
  challenge: 'dns-01' as const,
  host,
  service: { name: 'postgresql', baseDir: '/var/lib/up', deployDir: '/etc/up/tls' },
  dns: { address: '10.0.0.53', port: 53, keyName: 'up-key', algorithm: 'hmac-sha256' },
};
const layout = { group: 'p1', baseDir: '/srv/up/nginx', httpPort: 80, nginxUser: 'www-data', ipv6: false };
const proxy = {
  certificate: { id: '01234567-89ab-4cde-8f01-23456789abcd', name: 'site-shop-alice' },
  names: ['shop.example.com'],
  challenge: 'http-01' as const,
  issuer: { host, layout },
  members: [{ host, layout }],
  dns: null,
};
const hostRow = (labels: Record<string, string>) => ({ name: 'db1', labels }) as unknown as HostRow;

describe('service certificates', () => {
  it('cert.issue and cert.renew take the proxy payload and the service payload, nothing in between', () => {
    for (const op of [certIssue, certRenew]) {
      const v = validator(op.payload);
      assert.ok(v.check(proxy), v.errors(proxy).join('; '));
      assert.ok(v.check(service), v.errors(service).join('; '));
      assert.ok(!v.check({ ...service, service: { ...service.service, name: 'sendmail' } }));
      assert.ok(!v.check({ ...service, service: { ...service.service, deployDir: '/etc/../root' } }));
      assert.ok(!v.check({ ...service, service: { ...service.service, deployDir: 'relative/dir' } }));
      assert.ok(!v.check({ ...service, challenge: 'http-01' }), 'a service certificate is DNS-01 only');
      assert.ok(!v.check({ ...service, dns: null }));
      assert.ok(!v.check({ ...service, members: proxy.members }), 'no mix of the two shapes');
    }
  });

  it('the lineage name says which service; other names are not services', () => {
    for (const s of CERT_SERVICES) assert.equal(serviceOfCertName(serviceCertName(s)), s);
    for (const other of ['wildcard', 'site-shop-alice', 'service-', 'service-sendmail']) assert.equal(serviceOfCertName(other), null);
  });

  it('the host labels move certbot and the deploy dir; a label that is not a clean absolute path is refused by name', () => {
    assert.deepEqual(serviceDirs(hostRow({})), { baseDir: '/var/lib/up', deployDir: '/etc/up/tls' });
    assert.deepEqual(serviceDirs(hostRow({ 'certs.base-dir': '/srv/lab/up', 'certs.deploy-dir': '/srv/lab/tls' })), {
      baseDir: '/srv/lab/up',
      deployDir: '/srv/lab/tls',
    });
    for (const bad of ['/etc/../root', 'tls', '/etc/up/$(id)', '/etc/up tls']) {
      const result = serviceDirs(hostRow({ 'certs.deploy-dir': bad }));
      assert.ok('error' in result && result.error.includes('certs.deploy-dir'), JSON.stringify(result));
    }
    assert.deepEqual(serviceFiles('/etc/up/tls', 'postfix'), {
      dir: '/etc/up/tls/postfix',
      cert: '/etc/up/tls/postfix/fullchain.pem',
      key: '/etc/up/tls/postfix/privkey.pem',
    });
  });

  it('the database services own their keys; every service has a reload', () => {
    assert.equal(SERVICE_TLS.postgresql.owner, 'postgres');
    assert.equal(SERVICE_TLS.mariadb.owner, 'mysql');
    for (const s of ['postfix', 'dovecot', 'nginx'] as const) assert.equal(SERVICE_TLS[s].owner, 'root');
    for (const s of CERT_SERVICES) assert.ok(SERVICE_TLS[s].reload && SERVICE_TLS[s].running);
  });
});
