import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { namedConf, namedConfPath, rndcConf, tsigKeyFile, tsigKeyPath } from '../../handlers/dns/dns.server.setup/bind.ts';
import { dnsServerSetup, type BindSetup } from '../../queues/dns/ops.ts';
import { validator } from '../../queues/validate.ts';

const run = promisify(execFile);
const DEBIAN: BindSetup = {
  configDir: '/etc/bind',
  rndcConf: '/etc/bind/rndc.conf',
  zoneDir: '/var/lib/bind',
  keyName: 'up-key',
  algorithm: 'hmac-sha256',
  port: 53,
  secondaries: [],
};

describe('dns.server.setup: BIND for dynamic zones', () => {
  it("up's named.conf takes new zones, the TSIG key and rndc, and keeps Debian's pid file on /etc/bind", () => {
    const text = namedConf(DEBIAN);
    assert.match(text, /allow-new-zones yes;/);
    assert.match(text, /include "\/etc\/bind\/up-tsig-up-key\.key";/);
    assert.match(text, /include "\/etc\/bind\/rndc\.key";/);
    assert.match(text, /controls \{ inet 127\.0\.0\.1 port 953 allow \{ 127\.0\.0\.1; \} keys \{ "rndc-key"; \}; \};/);
    assert.match(text, /directory "\/var\/lib\/bind";/);
    assert.match(text, /pid-file "\/run\/named\/named\.pid";/);
    assert.match(text, /allow-transfer \{ key "up-key"; \};/);
    assert.match(text, /recursion no;/);
    assert.match(text, /notify no;/);
    assert.equal(namedConfPath(DEBIAN), '/etc/bind/named.conf');
    assert.equal(tsigKeyPath(DEBIAN), '/etc/bind/up-tsig-up-key.key');
  });

  it('another config directory is an instance of its own; secondaries are notified', () => {
    const text = namedConf({
      ...DEBIAN,
      configDir: '/srv/lab/h1/etc',
      zoneDir: '/srv/lab/h1/zones',
      port: 5353,
      secondaries: ['192.0.2.2', '2001:db8::2'],
    });
    assert.match(text, /pid-file "\/srv\/lab\/h1\/zones\/named\.pid";/);
    assert.match(text, /listen-on port 5353 \{ any; \};/);
    assert.match(text, /notify explicit;\n {2}also-notify \{ 192\.0\.2\.2; 2001:db8::2; \};/);
  });

  it('the key file and rndc.conf are what named-checkconf accepts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'up-bind-unit-'));
    try {
      const setup: BindSetup = { ...DEBIAN, configDir: dir, rndcConf: join(dir, 'rndc.conf'), zoneDir: dir };
      const key = { name: 'up-key', algorithm: 'hmac-sha256' as const, secret: Buffer.alloc(32, 7) };
      await writeFile(tsigKeyPath(setup), tsigKeyFile(key));
      assert.equal(tsigKeyFile(key), `key "up-key" { algorithm hmac-sha256; secret "${key.secret.toString('base64')}"; };\n`);
      await run('rndc-confgen', ['-a', '-k', 'rndc-key', '-c', join(dir, 'rndc.key')]);
      await writeFile(namedConfPath(setup), namedConf(setup));
      await writeFile(setup.rndcConf, rndcConf(setup));
      await run('named-checkconf', [namedConfPath(setup)]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the payload refuses a config path or key name that could break out of BIND syntax', () => {
    const { check } = validator(dnsServerSetup.payload);
    const host = { name: 'h1', address: '10.0.0.1', port: 22, user: 'root', hostKeySha256: `SHA256:${'A'.repeat(43)}` };
    assert.equal(check({ host, bind: DEBIAN }), true);
    for (const bad of [
      { configDir: '/etc/bind"; }; evil' },
      { keyName: 'k"; };' },
      { zoneDir: '/var/../etc' },
      { secondaries: ['1.2.3.4; any'] },
    ]) {
      assert.equal(check({ host, bind: { ...DEBIAN, ...bad } }), false, JSON.stringify(bad));
    }
  });
});
