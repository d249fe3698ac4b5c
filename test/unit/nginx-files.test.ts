/**
 * The host-side scripts of certificate installs and website.apply's first round trip, run by
 * the local executor in a temporary base dir, with a stand-in `nginx` on PATH that records its
 * calls (and fails `-t` on demand). Needs root (the files are chowned root:root), as the
 * handlers do on a host.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { installCertificate, installedCertsProbe, parseInstalledCerts } from '../../handlers/certificates/tls-files.ts';
import { nginxPaths, readConfigState } from '../../handlers/proxies/nginx.ts';
import { PermanentError, RetryableError, SupersededError } from '../../lib/errors.ts';
import { LocalExecutor } from '../../lib/exec/index.ts';
import { tlsFiles } from '../../queues/certificates/ops.ts';

const root = process.getuid?.() === 0;

describe('nginx files on a host (local executor)', { skip: root ? false : 'needs root' }, () => {
  let dir: string;
  let baseDir: string;
  let calls: string;
  let exec: LocalExecutor;
  const savedPath = process.env.PATH;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'up-nginx-files-'));
    baseDir = join(dir, 'nginx');
    calls = join(dir, 'nginx-calls');
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    // Records its arguments; `-t` fails while the file `refuse` exists.
    writeFileSync(
      join(bin, 'nginx'),
      `#!/bin/sh\necho "$*" >> '${calls}'\ncase " $* " in *" -t "*) if [ -e '${dir}/refuse' ]; then echo 'nginx: [emerg] cannot load certificate' >&2; exit 1; fi ;; esac\nexit 0\n`,
    );
    chmodSync(join(bin, 'nginx'), 0o755);
    process.env.PATH = `${bin}:${savedPath}`;
    exec = new LocalExecutor({ lockDir: join(dir, 'locks') });
  });

  after(async () => {
    process.env.PATH = savedPath;
    await exec.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const nginxCalls = () => (existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : []);
  const pem = (label: string) => ({
    cert: `-----BEGIN CERTIFICATE-----\n${label}\n-----END CERTIFICATE-----\n`,
    key: `-----BEGIN PRIVATE KEY-----\n${label} 'quoted' $HOME \`id\`\n-----END PRIVATE KEY-----\n`,
  });

  test('a first certificate is moved in without nginx -t or a reload; the same again changes nothing', async () => {
    const files = tlsFiles(baseDir, 'site-shop');
    assert.equal(await installCertificate(exec, baseDir, 'site-shop', pem('one')), true);
    assert.equal(readFileSync(files.cert, 'utf8'), pem('one').cert);
    assert.equal(readFileSync(files.key, 'utf8'), pem('one').key, 'the key byte for byte, quotes and $ included');
    assert.equal(statSync(files.cert).mode & 0o777, 0o644);
    assert.equal(statSync(files.key).mode & 0o777, 0o600);
    assert.equal(statSync(files.dir).mode & 0o777, 0o700);
    for (const leftover of [`${files.cert}.new`, `${files.key}.new`, `${files.cert}.old`, `${files.key}.old`])
      assert.equal(existsSync(leftover), false, leftover);
    assert.deepEqual(nginxCalls(), [], 'nothing refers to a first certificate: no nginx -t, no reload');

    assert.equal(await installCertificate(exec, baseDir, 'site-shop', pem('one')), false);
    assert.deepEqual(nginxCalls(), []);
  });

  test('a replacement is validated (nginx -t) and stays when nginx accepts it', async () => {
    const files = tlsFiles(baseDir, 'site-shop');
    assert.equal(await installCertificate(exec, baseDir, 'site-shop', pem('two')), true);
    assert.equal(readFileSync(files.cert, 'utf8'), pem('two').cert);
    const made = nginxCalls();
    assert.equal(made.length, 1, made.join('\n'));
    assert.match(made[0], / -t$/);
    assert.equal(existsSync(`${files.cert}.old`), false);
  });

  test('a replacement nginx refuses fails NGINX_INVALID and the previous pair comes back', async () => {
    const files = tlsFiles(baseDir, 'site-shop');
    writeFileSync(join(dir, 'refuse'), '');
    try {
      await assert.rejects(installCertificate(exec, baseDir, 'site-shop', pem('three')), (error: Error) => {
        assert.ok(error instanceof PermanentError);
        assert.equal((error as PermanentError).code, 'NGINX_INVALID');
        assert.match(error.message, /nginx rejected the new certificate on local \(the previous one stays\): .*\[emerg\] cannot load/);
        return true;
      });
    } finally {
      rmSync(join(dir, 'refuse'));
    }
    assert.equal(readFileSync(files.cert, 'utf8'), pem('two').cert);
    assert.equal(readFileSync(files.key, 'utf8'), pem('two').key);
    for (const leftover of [`${files.cert}.new`, `${files.key}.new`, `${files.cert}.old`, `${files.key}.old`])
      assert.equal(existsSync(leftover), false, leftover);
  });

  test("website.apply's read: PROXY_NOT_READY before anything is made, then generation, current file and certificates", async () => {
    const fresh = join(dir, 'fresh');
    const paths = nginxPaths(fresh);
    const target = {
      file: `${paths.vhosts}/shop.conf`,
      resource: 'site-1',
      generation: 2,
      requireProxyConfig: true,
      probe: installedCertsProbe(fresh, 'shop'),
    };
    await assert.rejects(readConfigState(exec, paths, target), (error: Error) => {
      assert.ok(error instanceof RetryableError);
      assert.equal((error as RetryableError).code, 'PROXY_NOT_READY');
      assert.match(error.message, /the proxy group's configuration is not on local yet .*retrying/);
      return true;
    });
    assert.equal(existsSync(fresh), false, 'nothing made before the proxy configuration');

    mkdirSync(fresh);
    writeFileSync(paths.conf, 'events {}\n');
    const empty = await readConfigState(exec, paths, target);
    assert.equal(empty.previous, null);
    assert.deepEqual(parseInstalledCerts(empty.probe), { wildcard: false, siteNames: [] });
    assert.equal(existsSync(paths.vhosts), true, 'the layout is made');

    writeFileSync(target.file, 'server {}\n');
    writeFileSync(`${paths.state}/site-1.generation`, '2\n');
    const wildcard = tlsFiles(fresh, 'wildcard');
    mkdirSync(wildcard.dir, { recursive: true });
    writeFileSync(wildcard.cert, 'x');
    writeFileSync(wildcard.key, 'x');
    const found = await readConfigState(exec, paths, target);
    assert.equal(found.previous?.toString('utf8'), 'server {}\n');
    assert.deepEqual(parseInstalledCerts(found.probe), { wildcard: true, siteNames: [] });

    writeFileSync(`${paths.state}/site-1.generation`, '3\n');
    await assert.rejects(readConfigState(exec, paths, target), SupersededError);
  });
});
