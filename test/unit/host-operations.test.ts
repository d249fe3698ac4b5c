import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFacts, probeScript } from '../../handlers/hosts/host.probe/facts.ts';
import { aptInstall, createdDirectories, dpkgQuery, ensureDirectories, missingPackages } from '../../handlers/hosts/host.prepare/plan.ts';
import { parseUpgradable, upgradedBetween } from '../../handlers/hosts/host.update/apt-list.ts';
import { domains } from '../../gateway/domains.ts';
import { packagesFor, rolesOf } from '../../gateway/hosts/roles.ts';
import { hostProbe } from '../../queues/hosts/probe.ts';
import { validator } from '../../queues/validate.ts';

const DPKG = ['pkg\tbind9\tii \t1:9.18.49-1~deb12u3', 'pkg\tnginx\trc \t1.22.1-9', 'pkg\tpostgresql\tii \t15+248'].join('\n');

const packagesForRoles = (names: string[]) => packagesFor(rolesOf(domains), names);

describe('host.prepare planning', () => {
  it('wants each role package once, sorted (each domain declares its roles)', () => {
    assert.deepEqual(packagesForRoles(['proxy', 'web', 'dns']), [
      'bind9',
      'bind9-dnsutils',
      'certbot',
      'nginx',
      'python3-certbot-dns-rfc2136',
    ]);
    assert.deepEqual(packagesForRoles([]), []);
  });

  it('a package dpkg does not list, or lists as removed, is missing', () => {
    const wanted = packagesForRoles(['dns', 'proxy', 'db']);
    assert.deepEqual(missingPackages(wanted, DPKG), {
      missing: ['bind9-dnsutils', 'certbot', 'mariadb-server', 'nginx', 'python3-certbot-dns-rfc2136'],
      present: ['bind9', 'postgresql'],
    });
    assert.deepEqual(missingPackages(['bind9'], DPKG).missing, []);
    assert.deepEqual(missingPackages(['bind9'], '').missing, ['bind9']);
  });

  it('installs non-interactively without recommends, package names as quoted words', () => {
    const text = aptInstall(['nginx', 'bind9']).text;
    assert.match(text, /export DEBIAN_FRONTEND=noninteractive/);
    assert.match(text, /apt-get .*install -y --no-install-recommends nginx bind9/);
    assert.match(dpkgQuery(['a+b']).text, /-f='pkg\t\$\{Package\}/, 'the format reaches dpkg-query single-quoted');
  });

  it('reports the directories it created', () => {
    assert.match(ensureDirectories({ '/etc/up': '0750' }).text, /\[ -d \/etc\/up \] \|\| \{ mkdir -p -m 0750 \/etc\/up/);
    assert.deepEqual(createdDirectories('created\t/etc/up\nnoise\ncreated\t/var/lib/up\n'), ['/etc/up', '/var/lib/up']);
  });
});

describe('host.probe facts', () => {
  const output = [
    'os_id\tdebian',
    'os_name\t"Debian GNU/Linux 12 (bookworm)"',
    'kernel\t6.1.0-18-amd64',
    'arch\tx86_64',
    'hostname\tweb1',
    'uptime\t93784.51',
    'load\t0.50 0.25 0.10',
    'cpus\t4',
    'MemTotal:\t8192000',
    'MemAvailable:\t4096000',
    'disk\t104857600 52428800 47185920',
    DPKG,
  ].join('\n');

  it('parses the probe output into facts the result schema accepts', () => {
    const facts = parseFacts(output);
    assert.deepEqual(facts.os, { id: 'debian', name: 'Debian GNU/Linux 12 (bookworm)', kernel: '6.1.0-18-amd64', arch: 'x86_64' });
    assert.equal(facts.uptimeSeconds, 93784.51);
    assert.deepEqual(facts.load, [0.5, 0.25, 0.1]);
    assert.deepEqual(facts.memory, { totalMb: 8000, availableMb: 4000 });
    assert.deepEqual(facts.disk, { path: '/', totalMb: 102400, usedMb: 51200, availableMb: 46080 });
    assert.equal(facts.software.bind9, '1:9.18.49-1~deb12u3');
    assert.equal(facts.software.nginx, null, 'removed with config left is not installed');
    assert.equal(facts.software['pure-ftpd'], null);
    assert.ok(validator(hostProbe.result).check(facts));
  });

  it('an empty answer still gives valid facts, with unknowns as null', () => {
    const facts = parseFacts('');
    assert.equal(facts.cpus, null);
    assert.ok(validator(hostProbe.result).check(facts));
  });

  it('is one script, strict mode, nothing interpolated from outside', () => {
    const text = probeScript().text;
    assert.match(text, /^set -eu\n/);
    assert.match(text, /dpkg-query -W/);
  });
});

describe('host.update listing', () => {
  const listing = [
    'Listing...',
    'apt/bookworm-security 2.6.2 amd64 [upgradable from: 2.6.1]',
    'base-files/bookworm 12.4+deb12u15 amd64 [upgradable from: 12.4+deb12u11]',
    'libssl3/bookworm-security,bookworm 3.0.15-1~deb12u1 amd64 [upgradable from: 3.0.11-1~deb12u2]',
    'WARNING: apt does not have a stable CLI interface.',
  ].join('\n');

  it('marks updates from a -security archive', () => {
    const pending = parseUpgradable(listing);
    assert.deepEqual(
      pending.map((p) => [p.name, p.security]),
      [
        ['apt', true],
        ['base-files', false],
        ['libssl3', true],
      ],
    );
    assert.deepEqual(pending[0], { name: 'apt', origin: 'bookworm-security', to: '2.6.2', from: '2.6.1', security: true });
  });

  it('upgraded = what left the pending list', () => {
    const before = parseUpgradable(listing);
    const after = parseUpgradable('Listing...\nbase-files/bookworm 12.4+deb12u15 amd64 [upgradable from: 12.4+deb12u11]\n');
    assert.deepEqual(
      upgradedBetween(before, after).map((p) => p.name),
      ['apt', 'libssl3'],
    );
  });
});
