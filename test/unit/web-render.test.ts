/**
 * Golden files pin every nginx template's output for representative specs, and nginx itself
 * accepts what they render (`nginx -t` on a scratch layout). UPDATE_GOLDEN=1 rewrites them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { htpasswd, renderVhost } from '../../handlers/websites/website.apply/view.ts';
import { render, renderText, RenderError } from '../../lib/render.ts';

const GOLDEN = fileURLToPath(new URL('../golden/nginx/', import.meta.url));
const layout = { group: 'p1', baseDir: '/srv/up/nginx', httpPort: 80, nginxUser: 'www-data', ipv6: true };
const base = {
  id: '01234567-89ab-4cde-8f01-23456789abcd',
  key: 'shop-alice',
  generation: 3,
  owner: 'up-alice',
  serverNames: ['shop-alice.p1.example.net'],
  static: true,
  routes: [],
  maxBodySize: '10m',
  basicAuth: null,
  errorPages: [],
  headers: [],
  redirects: [],
  httpsRedirect: false,
  tls: false,
};
const full = {
  ...base,
  serverNames: ['shop-alice.p1.example.net', 'example.com', 'xn--caf-dma.example'],
  routes: [
    { path: '/api/', upstream: '10.0.0.5:3000', websocket: false },
    { path: '/ws/', upstream: '[2001:db8::5]:8080', websocket: true },
  ],
  maxBodySize: '64m',
  basicAuth: {
    realm: 'Staging',
    users: [
      { name: 'bob', hash: '$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1' },
      { name: 'eve', hash: '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1' },
    ],
  },
  errorPages: [{ code: 404 as const, path: '/404.html' }],
  headers: [
    { name: 'X-Frame-Options' as const, value: 'DENY' },
    { name: 'Strict-Transport-Security' as const, value: 'max-age=31536000' },
  ],
  redirects: [{ from: 'www.example.com', to: 'example.com' }],
};

const cases: Record<string, () => string> = {
  'nginx.conf': () =>
    render('nginx', 'nginx/nginx.conf.mustache', {
      group: 'p1',
      generation: 7,
      user: 'www-data',
      baseDir: '/srv/up/nginx',
      port: 80,
      ipv6: true,
    }),
  'vhost-static.conf': () => renderVhost({ ...layout, ipv6: false }, base),
  'vhost-full.conf': () => renderVhost(layout, full),
  'vhost-proxy-only.conf': () =>
    renderVhost(layout, { ...base, static: false, routes: [{ path: '/', upstream: '10.0.0.7:8080', websocket: true }] }),
  // A route to a container over its replicas' published ports, and one whose container is gone (502).
  'vhost-containers.conf': () =>
    renderVhost(layout, {
      ...base,
      static: false,
      // An app: its collected static files from the document root, everything else from its replicas.
      staticPaths: ['/static/', '/media/'],
      routes: [
        { path: '/', endpoints: ['10.0.0.7:20001', '10.0.0.8:20000'], websocket: false },
        { path: '/old/', endpoints: [], websocket: false },
      ],
    }),
  'vhost-https-redirect.conf': () => renderVhost(layout, { ...base, httpsRedirect: true, tls: true }),
  'vhost-tls.conf': () =>
    renderVhost(
      { ...layout, httpsPort: 443, acmeIssuer: '10.0.0.1:80' },
      {
        ...base,
        serverNames: ['shop-alice.p1.example.net', 'example.com'],
        redirects: [{ from: 'www.example.com', to: 'example.com' }],
        httpsRedirect: true,
        tls: true,
      },
      { wildcard: true, siteNames: ['example.com', 'www.example.com'] },
    ),
  'nginx-wildcard.conf': () =>
    render('nginx', 'nginx/nginx.conf.mustache', {
      group: 'p1',
      generation: 8,
      user: 'www-data',
      baseDir: '/srv/up/nginx',
      port: 80,
      ipv6: true,
      acmeIssuer: '10.0.0.1:80',
      wildcard: { httpsPort: 443, cert: '/srv/up/nginx/tls/wildcard/fullchain.pem', key: '/srv/up/nginx/tls/wildcard/privkey.pem' },
    }),
};

for (const [name, make] of Object.entries(cases)) {
  test(`golden: ${name}`, () => {
    const file = join(GOLDEN, name);
    const rendered = make();
    if (process.env.UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, rendered);
    assert.equal(rendered, readFileSync(file, 'utf8'));
  });
}

test('the HTTPS redirect waits for a certificate', () => {
  assert.doesNotMatch(renderVhost(layout, { ...base, httpsRedirect: true, tls: false }), /return 301 https/);
  // Marked TLS but the files are not on this host (a member that just joined): HTTP only, no redirect.
  assert.doesNotMatch(renderVhost(layout, { ...base, httpsRedirect: true, tls: true }), /return 301 https|ssl/);
});

test('htpasswd lines carry the hashes, never a password', () => {
  assert.equal(
    htpasswd(full),
    'bob:$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1\neve:$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1\n',
  );
  assert.equal(htpasswd(base), null);
});

test('every server block, and the http block, refuses symlinks to files their owner does not own', () => {
  for (const [name, make] of Object.entries(cases)) {
    const rendered = make();
    const blocks = rendered.split(/^\s*server \{$/m).slice(1);
    assert.ok(blocks.length > 0, name);
    for (const block of blocks)
      assert.match(
        block.split(/^\s*location /m)[0],
        /^\s+disable_symlinks if_not_owner from=\$document_root;$/m,
        `${name}: ${block.slice(0, 200)}`,
      );
    if (name.startsWith('nginx'))
      assert.match(
        rendered.split(/^\s*server \{$/m)[0],
        /^ {4}disable_symlinks if_not_owner from=\$document_root;$/m,
        `${name}: the http block`,
      );
  }
});

test('config templates are not HTML-escaped, and refuse syntax instead of escaping it', () => {
  assert.equal(renderText('nginx', 'a {{v}}', { v: 'x&y<z>' }), 'a x&y<z>');
  assert.equal(renderText('html', 'a {{v}}', { v: 'x&y' }), 'a x&amp;y');
  for (const bad of [';', '{', '}', '#', '"', "'", '$', '\n', '\0', '\\', '`']) {
    assert.throws(() => renderText('nginx', 'a {{v}}', { v: `x${bad}y` }), RenderError, JSON.stringify(bad));
  }
});

test('nginx -t accepts the rendered base config with every vhost', {
  skip: !existsSync('/usr/sbin/nginx') && 'nginx is not installed',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'up-golden-'));
  try {
    const at = (text: string) => text.replaceAll('/srv/up/nginx', dir);
    for (const sub of ['vhosts', 'logs', 'tmp', 'www', 'acme', 'auth']) execFileSync('mkdir', ['-p', join(dir, sub)]);
    const vhostCases = Object.keys(cases).filter((name) => name.startsWith('vhost'));
    for (const cert of ['wildcard', ...vhostCases.map((_, i) => `site-shop-alice${i}`)]) {
      execFileSync('mkdir', ['-p', join(dir, 'tls', cert)]);
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
          '1',
          '-subj',
          '/CN=golden',
          '-keyout',
          join(dir, 'tls', cert, 'privkey.pem'),
          '-out',
          join(dir, 'tls', cert, 'fullchain.pem'),
        ],
        { stdio: 'pipe' },
      );
    }
    writeFileSync(
      join(dir, 'nginx.conf'),
      at(cases['nginx.conf']()).replace('listen 80', 'listen 127.0.0.1:18080').replace('listen [::]:80', 'listen [::1]:18080'),
    );
    const vhosts = Object.entries(cases).filter(([name]) => name.startsWith('vhost'));
    vhosts.forEach(([name, make], i) =>
      writeFileSync(
        join(dir, 'vhosts', name),
        at(make())
          .replaceAll('listen 80', 'listen 127.0.0.1:18080')
          .replaceAll('listen [::]:80', 'listen [::1]:18080')
          .replaceAll('listen 443', 'listen 127.0.0.1:18443')
          .replaceAll('listen [::]:443', 'listen [::1]:18443')
          .replaceAll('shop-alice', `shop-alice${i}`),
      ),
    );
    execFileSync('nginx', ['-e', join(dir, 'logs/error.log'), '-c', join(dir, 'nginx.conf'), '-t'], { stdio: 'pipe' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
