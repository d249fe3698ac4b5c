import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MAX_ARCHIVE_BYTES } from '../../lib/validate/web-archive.ts';

const CONF = readFileSync(new URL('../../deploy/nginx/up-gateway.conf', import.meta.url), 'utf8');

test('nginx -t accepts the example in front of the gateway (with a throwaway certificate)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'up-nginx-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=api.up.example.net',
        '-keyout',
        join(dir, 'privkey.pem'),
        '-out',
        join(dir, 'fullchain.pem'),
      ],
      { stdio: 'ignore' },
    );
    const site = CONF.replaceAll('/etc/up/tls/nginx/', `${dir}/`).replace('listen 443', 'listen 127.0.0.1:0');
    writeFileSync(
      join(dir, 'nginx.conf'),
      `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n${site}\n}\n`,
    );
    const run = spawnSync('nginx', ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /syntax is ok/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('nginx accepts the largest archive the gateway does, and not four times more', () => {
  const mebibytes = Number(/client_max_body_size (\d+)m;/.exec(CONF)![1]);
  const largestBody = Math.ceil((MAX_ARCHIVE_BYTES * 4) / 3) + 1024; // base64 in JSON, as the route allows
  assert.ok(mebibytes * 1024 * 1024 >= largestBody, `${mebibytes} MiB holds ${largestBody} bytes`);
  assert.ok(mebibytes * 1024 * 1024 < largestBody * 1.2, `${mebibytes} MiB is not far above it`);
});
